"""Admin for tenants (settings as a validated form), API keys, and the site's RevOps AI branding.

Tenant pages: superusers see every tenant; owners and admins of a tenant see and edit their own
(name, time zone, settings); everyone else gets 404 for a tenant page. The settings form is
built from :class:`tenants.settings_schema.TenantSettings`: one form field per setting, named by
its dotted path with ``__`` (``budgets__max_tool_calls``), and the whole document is validated by
the pydantic model, its errors shown on the field they concern.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Any, Literal

from django import forms
from django.contrib import admin
from django.http import Http404, HttpRequest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from tenants.admin_base import ROLES_THAT_CONFIGURE, TenantScopedAdmin, member_tenant_ids
from tenants.models import ApiKey, Membership, Tenant
from tenants.settings_schema import (
    TenantSettings,
    TenantSettingsInvalid,
    settings_apply,
    settings_path_get,
    tenant_settings_validate,
)

admin.site.site_header = "RevOps AI"
admin.site.site_title = "RevOps AI"
admin.site.index_title = "Knowledge, runs, actions and connectors"

SEP = "__"


# --- a Django form from the pydantic model ----------------------------------------------------------


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; anything else -> ``(annotation, False)``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def _bounds(info: FieldInfo) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for meta in info.metadata:
        if getattr(meta, "ge", None) is not None:
            out["min_value"] = meta.ge
        if getattr(meta, "le", None) is not None:
            out["max_value"] = meta.le
        if getattr(meta, "max_length", None) is not None:
            out["max_length"] = meta.max_length
    return out


class LinesField(forms.CharField):
    """One item per line (blank lines ignored) -> list of str."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class PairsField(forms.CharField):
    """``name = value`` per line -> dict of str; a line without ``=`` is an error."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        return "\n".join(f"{k} = {v}" for k, v in value.items()) if isinstance(value, dict) else value

    def to_python(self, value):
        out: dict[str, str] = {}
        for number, line in enumerate((value or "").splitlines(), 1):
            if not line.strip():
                continue
            if "=" not in line:
                raise forms.ValidationError(f"line {number}: write 'name = value'")
            key, _, val = line.partition("=")
            out[key.strip()] = val.strip()
        return out


def _form_field(path: str, info: FieldInfo) -> forms.Field:
    """The Django form field for one leaf setting (``path`` dotted)."""
    annotation, optional = _unwrap(info.annotation)
    origin = typing.get_origin(annotation)
    label = path.split(".")[-1].replace("_", " ")
    common: dict[str, Any] = {"label": label, "help_text": info.description or "", "required": False}
    if origin is Literal:
        choices = [(c, c) for c in typing.get_args(annotation)]
        return forms.ChoiceField(choices=choices, **common)
    if origin is list:
        (item,) = typing.get_args(annotation)
        if typing.get_origin(item) is Literal:
            choices = [(c, c) for c in typing.get_args(item)]
            return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
        return LinesField(**common)
    if origin is dict:
        return PairsField(**common)
    if annotation is bool:
        return forms.BooleanField(**common)
    if annotation is int:
        return forms.IntegerField(**common, **_bounds(info))
    if annotation is dt.date:
        return forms.DateField(**common, widget=forms.DateInput(attrs={"type": "date"}))
    return forms.CharField(**common, **_bounds(info))


def settings_fields(model: type[BaseModel] = TenantSettings, prefix: str = "") -> dict[str, tuple[str, forms.Field]]:
    """``{form field name: (dotted path, form field)}`` for every leaf of ``model``, sections
    (nested models) flattened in declaration order."""
    out: dict[str, tuple[str, forms.Field]] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        annotation, _ = _unwrap(info.annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.update(settings_fields(annotation, path))
        else:
            out[path.replace(".", SEP)] = (path, _form_field(path, info))
    return out


class _TenantFormBase(forms.ModelForm):
    """Name, time zone and the settings, one validated field per setting (see module doc).

    Keys the form does not show are kept as they are, and validated with the rest (an unknown
    key stored by hand is reported as a form error instead of being dropped silently).
    """

    class Meta:
        model = Tenant
        fields = ["slug", "name", "time_zone"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings_map = settings_fields()
        stored = (self.instance.settings or {}) if self.instance else {}
        defaults = TenantSettings().model_dump(mode="json")
        for name, (path, _) in self.settings_map.items():
            found, value = settings_path_get(stored, path)
            if not found:
                _, value = settings_path_get(defaults, path)  # the schema's default, shown as such
            self.fields[name].initial = value

    def clean(self):
        cleaned = super().clean()
        stored = (self.instance.settings or {}) if self.instance else {}
        defaults = TenantSettings().model_dump(mode="json")
        changes: dict[str, Any] = {}
        unset: list[str] = []
        for name, (path, _) in self.settings_map.items():
            if name not in cleaned:
                continue  # the field's own validation failed; its error is already shown
            value = cleaned[name]
            if isinstance(value, dt.date):
                value = value.isoformat()
            was_stored, _ = settings_path_get(stored, path)
            _, default = settings_path_get(defaults, path)
            same_as_default = sorted(value) == sorted(default) if isinstance(value, list) and isinstance(default, list) else value == default
            if value is None:
                unset.append(path)  # an emptied date or number: back to the default
            elif was_stored or not same_as_default:
                changes[path] = value
        document = settings_apply(stored, changes=changes, unset=tuple(unset))
        try:
            tenant_settings_validate(document)
        except TenantSettingsInvalid as exc:
            for path, problems in exc.errors.items():
                target = self._field_for(path)
                for problem in problems:
                    self.add_error(target, f"{path}: {problem}" if target is None else problem)
        self.settings_document = document
        return cleaned

    def _field_for(self, path: str) -> str | None:
        """The form field an error at ``path`` belongs to (``actions.auto_approve.0`` ->
        ``actions__auto_approve``), or None (a form-wide error)."""
        parts = path.split(".")
        while parts:
            name = SEP.join(parts)
            if name in self.fields:
                return name
            parts.pop()
        return None

    def save(self, commit: bool = True):
        self.instance.settings = self.settings_document
        return super().save(commit)


# The settings fields are declared on the class (the admin checks fieldsets against them).
TenantForm = type(
    "TenantForm", (_TenantFormBase,), {"__module__": __name__, **{name: field for name, (_, field) in settings_fields().items()}}
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


def _administered(request: HttpRequest) -> set[int]:
    """Ids of the tenants where the user is an owner or admin (memberships read once per request)."""
    return member_tenant_ids(request, ROLES_THAT_CONFIGURE)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    """Tenants with their settings as a validated form. Superusers: all tenants; owners and
    admins: their own (other tenants are 404)."""

    form = TenantForm
    list_display = ["slug", "name", "time_zone", "created_at"]
    search_fields = ["slug", "name"]
    inlines = [MembershipInline]

    def get_fieldsets(self, request, obj=None):
        names = list(settings_fields())
        sections: dict[str, list[str]] = {}
        for name in names:
            head = name.split(SEP)[0] if SEP in name else "general"
            sections.setdefault(head, []).append(name)
        titles = {"general": "Runs", "budgets": "Budgets per run", "actions": "Actions policy", "slack": "Slack"}
        base = ["slug", "name", "time_zone"]
        return [(None, {"fields": base})] + [
            (titles.get(head, head.title()), {"fields": fields}) for head, fields in sections.items()
        ]

    def get_readonly_fields(self, request, obj=None):
        return ["slug"] if obj is not None else []

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(pk__in=_administered(request))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such tenant.")
        return obj

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(_administered(request))

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        ids = _administered(request)
        return obj.pk in ids if obj is not None else bool(ids)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_view_permission(request, obj)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    """API keys, for superusers only (no role of a tenant sees them here)."""

    list_display = ["name", "tenant", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]
    list_filter = ["tenant"]
    view_roles = change_roles = frozenset()

    def has_add_permission(self, request) -> bool:
        return False  # keys are created by apikey_create so the secret is shown once
