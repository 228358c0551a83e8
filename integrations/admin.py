"""Connector admin for tenant owners and admins: per-kind forms, write-only secrets, "Test connection".

Access comes from tenant memberships (:class:`tenants.admin_base.TenantScopedAdmin`): superusers see every
tenant; other staff see their tenants' connectors; owners and admins add, change, delete and
test them; editors and viewers only see them (secrets as "set"/"not set"). Another tenant's
connector is a 404. Adding starts with a choice of kind (``?kind=slack``); each kind has typed
config fields and secret fields from :mod:`integrations.forms`. Saves go through
:func:`integrations.services.credential_save`; tests through
:func:`integrations.connector_checks.connector_check`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from integrations.connector_checks import CheckResult, connector_check, slack_credential_hints
from integrations.health import connector_health_label
from integrations.forms import SECRET_NOT_SET, SECRET_SET, SPECS, ConnectorForm, ConnectorSpec, connector_form_class, spec_for, stored_secret_keys
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.services import credential_save
from tenants.admin_base import ROLES_THAT_CONFIGURE, TenantScopedAdmin, tenant_choices


def _report(request: HttpRequest, credential: ConnectorCredential, result: CheckResult) -> None:
    level = messages.SUCCESS if result.ok else messages.ERROR
    messages.add_message(request, level, f"{credential}: {result.message}")
    for hint in result.hints:
        messages.warning(request, f"{credential}: {hint}")

# Read-only lifecycle fields on the change page (integrations.health, integrations.rotation).
#: Warehouse upload links on the connector list at most (a superuser sees every tenant).
IMPORT_LINKS_MAX = 10
HEALTH_FIELDS = ["health_status", "last_success_at", "last_error", "last_error_at", "consecutive_failures", "rotation_status"]


@admin.register(ConnectorCredential)
class ConnectorCredentialAdmin(TenantScopedAdmin):
    """Per-kind connector forms (see the module docstring). Secret values are never rendered."""

    change_roles = ROLES_THAT_CONFIGURE
    list_display = ["__str__", "tenant", "kind", "name", "secret_status", "health_status", "updated_at"]
    list_filter = ["kind", "tenant"]
    actions = ["test_connection"]
    change_form_template = "admin/integrations/connectorcredential/change_form.html"
    change_list_template = "admin/integrations/connectorcredential/change_list.html"

    # --- permissions -----------------------------------------------------------------------------

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and self._spec(obj) is None:
            return False  # no form for this kind (e.g. warehouse_duckdb): read-only
        return super().has_change_permission(request, obj)

    # --- forms -----------------------------------------------------------------------------------

    @staticmethod
    def _spec(obj: ConnectorCredential) -> ConnectorSpec | None:
        return spec_for(kind=obj.kind, name=obj.name)

    def _requested_spec(self, request: HttpRequest) -> ConnectorSpec | None:
        return SPECS.get(request.GET.get("kind", ""))

    def get_form(self, request, obj=None, change=False, **kwargs):
        spec = self._spec(obj) if obj is not None else self._requested_spec(request)
        if spec is None:
            return super().get_form(request, obj, change=change, fields=[])
        base = connector_form_class(spec, with_tenant=obj is None, instance=obj)
        tenants = self.tenant_choices(request)

        class Form(base):  # type: ignore[valid-type, misc]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, **kw)
                if "tenant" in self.fields:
                    self.fields["tenant"].queryset = tenants
                    first_two = list(tenants[:2])  # one query
                    if len(first_two) == 1:
                        self.fields["tenant"].initial = first_two[0]

        Form.__name__ = base.__name__
        return Form

    def get_fieldsets(self, request, obj=None):
        readonly = list(self.get_readonly_fields(request, obj))
        form = self.get_form(request, obj)
        names = list(form.base_fields)
        general = [n for n in ("tenant", "name") if n in names]
        config = [n for n in names if n.startswith("config_")]
        secrets = [n for n in names if n.startswith(("secret_", "replace_"))]
        spec = self._spec(obj) if obj is not None else self._requested_spec(request)
        return [
            (spec.label if spec else "Connector", {"fields": readonly + general, "description": spec.description if spec else ""}),
            ("Settings", {"fields": config}),
            ("Secrets (write-only: never shown)", {"fields": secrets}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        fields = ["tenant", "kind", "secret_status", *HEALTH_FIELDS]
        if obj.kind == ConnectorKind.SLACK:
            fields.append("events_endpoint")
        if self._spec(obj) is None:
            fields += ["name", "config"]
        elif self._spec(obj).fixed_name:
            fields.append("name")
        return fields

    @admin.display(description="Secrets")
    def secret_status(self, obj: ConnectorCredential) -> str:
        spec = self._spec(obj)
        stored = stored_secret_keys(obj)
        if stored is None:
            return "cannot be decrypted with the current keys"
        keys = [s.key for s in spec.secrets] if spec else sorted(stored)
        labels = {s.key: s.label for s in spec.secrets} if spec else {}
        return "; ".join(f"{labels.get(k, k)}: {SECRET_SET if k in stored else SECRET_NOT_SET}" for k in keys) or "none"

    @admin.display(description="Health")
    def health_status(self, obj: ConnectorCredential) -> str:
        return connector_health_label(obj)

    @admin.display(description="Previous secrets (rotation)")
    def rotation_status(self, obj: ConnectorCredential) -> str:
        if obj.previous_secret_token and obj.previous_valid_until and obj.previous_valid_until > timezone.now():
            return f"also accepted until {timezone.localtime(obj.previous_valid_until):%Y-%m-%d %H:%M %Z}"
        return "none"

    @admin.display(description="Events endpoint")
    def events_endpoint(self, obj: ConnectorCredential) -> str:
        hints = slack_credential_hints(credential=obj)
        url = f"/slack/events/{obj.tenant.slug}"
        if not hints:
            return format_html("{} can receive events.", url)
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((h,) for h in hints)))

    # --- add: choose a kind first ----------------------------------------------------------------

    def add_view(self, request, form_url="", extra_context=None):
        if self._requested_spec(request) is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            context = {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": "Add a connector: choose its kind",
                "specs": list(SPECS.values()),
                "add_url": reverse("admin:integrations_connectorcredential_add"),
            }
            return TemplateResponse(request, "admin/integrations/connectorcredential/choose_kind.html", context)
        return super().add_view(request, form_url, extra_context)

    # --- save ------------------------------------------------------------------------------------

    def save_form(self, request, form, change):
        return form.instance  # nothing is written here: save_model calls the service

    def save_related(self, request, form, formsets, change) -> None:
        pass  # no relations or inlines beyond the tenant, which save_model stored

    def save_model(self, request, obj, form: ConnectorForm, change: bool) -> None:
        spec = form.spec
        tenant = obj.tenant if change else form.cleaned_data["tenant"]
        name = spec.fixed_name or form.cleaned_data.get("name") or obj.name
        saved = credential_save(  # undecryptable secrets were refused by the form
            tenant=tenant,
            kind=spec.kind,
            name=name,
            config=form.cleaned_config,
            secret_updates=form.secret_updates,
            credential_id=obj.pk if change else None,
        )
        obj.pk = saved.pk
        obj.refresh_from_db()
        if obj.kind == ConnectorKind.SLACK:
            for hint in slack_credential_hints(credential=obj):
                messages.warning(request, hint)

    # --- test connection -------------------------------------------------------------------------

    def get_urls(self):
        urls = super().get_urls()
        custom = [
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(require_POST(self.test_connection_view)),
                name="integrations_connectorcredential_test",
            )
        ]
        return custom + urls

    def test_connection_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: test one connector and report on its change page. 404 outside the user's
        tenants, 403 for members who may not configure it."""
        obj = self.get_object(request, unquote(object_id))  # Http404 for another tenant's row
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        _report(request, obj, connector_check(credential=obj))
        return HttpResponseRedirect(reverse("admin:integrations_connectorcredential_change", args=[obj.pk]))

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset) -> None:
        for obj in queryset:
            if not self.has_change_permission(request, obj):
                messages.error(request, f"{obj}: you may not test this connector.")
                continue
            _report(request, obj, connector_check(credential=obj))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            actions.pop("test_connection", None)
        return actions

    def changelist_view(self, request, extra_context=None):
        """The list, with a link to the warehouse file upload page (:mod:`integrations.admin_import`)
        of each tenant the user may configure (the first :data:`IMPORT_LINKS_MAX` by slug)."""
        tenants = list(tenant_choices(request, ROLES_THAT_CONFIGURE)[: IMPORT_LINKS_MAX + 1])
        links = [(t.name, reverse("admin:integrations_warehouse_import", args=[t.slug])) for t in tenants[:IMPORT_LINKS_MAX]]
        context = {**(extra_context or {}), "warehouse_import_links": links, "warehouse_import_more": len(tenants) > IMPORT_LINKS_MAX}
        return super().changelist_view(request, extra_context=context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_test_connection"] = bool(obj is not None and obj.pk and self.has_change_permission(request, obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

import integrations.salesforce.admin  # noqa: E402,F401  (registers the read-only SyncState admin)
import integrations.admin_import  # noqa: E402,F401  (the warehouse file upload page)
