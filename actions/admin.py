"""Admin for actions (with their audit trail and a "retry now" action) and webhook endpoints.

Access follows tenant memberships like the knowledge admin: superusers see every tenant; other
staff users see their tenants' rows; "retry now", endpoint changes and secret rotation need an
editing role (owner/admin/editor). Status changes go through :mod:`actions.services`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import Http404, HttpRequest

from actions.models import Action, ActionEvent, ActionStatus, SigningSecret, WebhookEndpoint
from actions.services import action_retry_now, signing_secret_rotate, webhook_endpoint_create
from revops.lib.urls import UnsafeURL, check_outbound_url
from tenants.models import ROLES_THAT_EDIT, Membership, Tenant

_CACHE_ATTR = "_actions_admin_tenant_ids"


def _tenant_ids(request: HttpRequest, *, editing: bool) -> set[int]:
    """Ids of the tenants where the user is a member (``editing``: with an editing role)."""
    cache = getattr(request, _CACHE_ATTR, None)
    if cache is None:
        cache = {"all": set(), "edit": set()}
        if request.user.is_authenticated and request.user.is_active and request.user.is_staff:
            for tenant_id, role in Membership.objects.filter(user=request.user).values_list("tenant_id", "role"):
                cache["all"].add(tenant_id)
                if role in ROLES_THAT_EDIT:
                    cache["edit"].add(tenant_id)
        setattr(request, _CACHE_ATTR, cache)
    return cache["edit" if editing else "all"]


class _TenantScopedAdmin(admin.ModelAdmin):
    def get_queryset(self, request):
        # Explicit opt-out of the context-scoped manager: the admin has no tenant in context;
        # the user's memberships are the scope.
        qs = self.model.objects.unscoped().select_related("tenant")
        return qs if request.user.is_superuser else qs.filter(tenant_id__in=_tenant_ids(request, editing=False))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such object.")
        return obj

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(_tenant_ids(request, editing=False))

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        ids = _tenant_ids(request, editing=False)
        return obj.tenant_id in ids if obj is not None else bool(ids)

    def _can_edit(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        ids = _tenant_ids(request, editing=True)
        return obj.tenant_id in ids if obj is not None else bool(ids)


class ActionEventInline(admin.TabularInline):
    model = ActionEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "actor_label", "attempt", "note"]
    readonly_fields = fields
    ordering = ["pk"]

    def get_queryset(self, request):
        return ActionEvent.objects.unscoped()  # rows of the action shown, which the parent admin scoped

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # shown only inside a parent the user may view (tenant-scoped above)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Action)
class ActionAdmin(_TenantScopedAdmin):
    """Actions with their audit trail. Dead and failed actions can be retried now."""

    list_display = ["id", "tenant", "kind", "target", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["target", "idempotency_key", "last_error"]
    list_select_related = ["tenant"]
    readonly_fields = [f.name for f in Action._meta.fields if f.name not in ("claim_token",)]
    exclude = ["claim_token"]
    inlines = [ActionEventInline]
    actions = ["retry_now"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_retry_permission(self, request) -> bool:
        return self._can_edit(request)

    @admin.action(description="Retry now (dead or failed actions)", permissions=["retry"])
    def retry_now(self, request, queryset):
        editable = None if request.user.is_superuser else _tenant_ids(request, editing=True)
        done = skipped = 0
        for action in queryset.filter(status__in=[ActionStatus.DEAD, ActionStatus.FAILED]):
            if editable is not None and action.tenant_id not in editable:
                skipped += 1
                continue
            if action_retry_now(action=action, actor=request.user, via=f"admin:{request.user.get_username()}"[:64]):
                done += 1
        skipped += queryset.exclude(status__in=[ActionStatus.DEAD, ActionStatus.FAILED]).count()
        self.message_user(request, f"{done} action(s) queued again; {skipped} skipped (not dead/failed, or no editing role).", messages.INFO)


class SigningSecretInline(admin.TabularInline):
    """Secrets are never shown here: only when created or rotated (once)."""

    model = SigningSecret
    extra = 0
    can_delete = False
    fields = ["created_at", "expires_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return SigningSecret.objects.unscoped()  # rows of the endpoint shown, which the parent admin scoped

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # shown only inside a parent the user may view (tenant-scoped above)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "url", "description", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_outbound_url(url, resolve=False)  # checked again, resolved, at every delivery
        except UnsafeURL as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_TenantScopedAdmin):
    """Registered receivers. Adding one (or rotating its secret) shows the new ``whsec_``
    secret once, in a message."""

    form = WebhookEndpointForm
    list_display = ["id", "tenant", "description", "url", "enabled", "disabled_reason", "updated_at"]
    list_filter = ["enabled"]
    readonly_fields = ["disabled_reason", "created_at", "updated_at"]
    inlines = [SigningSecretInline]
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", *self.readonly_fields] if obj is not None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # the first secret is made on save

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            tenants = Tenant.objects.order_by("slug")
            if not request.user.is_superuser:
                tenants = tenants.filter(pk__in=_tenant_ids(request, editing=True))
            kwargs["queryset"] = tenants
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_add_permission(self, request) -> bool:
        return self._can_edit(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._can_edit(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._can_edit(request, obj)

    def has_rotate_permission(self, request) -> bool:
        return self._can_edit(request)

    def save_model(self, request, obj, form, change):
        if change:
            if obj.enabled:
                obj.disabled_reason = ""
            obj.save()
            return
        endpoint, secret = webhook_endpoint_create(
            tenant=form.cleaned_data["tenant"], url=obj.url, description=obj.description, enabled=obj.enabled
        )
        obj.pk = endpoint.pk
        self.message_user(request, f"Signing secret of endpoint {endpoint.pk} (shown once): {secret}", messages.WARNING)

    @admin.action(description="Rotate signing secret (old one valid 24 h)", permissions=["rotate"])
    def rotate_secret(self, request, queryset):
        editable = None if request.user.is_superuser else _tenant_ids(request, editing=True)
        for endpoint in queryset:
            if editable is not None and endpoint.tenant_id not in editable:
                continue
            secret = signing_secret_rotate(tenant=endpoint.tenant, endpoint=endpoint)
            self.message_user(request, f"New signing secret of endpoint {endpoint.pk} (shown once): {secret}", messages.WARNING)
