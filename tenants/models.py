"""Tenants, memberships, API keys, and the tenant-owned base model with its fail-closed manager."""

from __future__ import annotations

import zoneinfo
from typing import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from tenants.context import current_tenant
from tenants.settings_schema import validate_tenant_settings


def validate_time_zone(value: str) -> None:
    """Raise ValidationError unless ``value`` is an IANA time zone name (e.g. ``Europe/Paris``)."""
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone")


class Tenant(models.Model):
    """A customer company. Every tenant-owned row points here.

    ``settings`` (JSON) holds tenant options, e.g. ``{"as_of_date": "2025-06-30"}`` to pin the
    as-of date of runs, ``{"llm_provider": "offline"}``.
    """

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    settings = models.JSONField(default=dict, blank=True, validators=[validate_tenant_settings])
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug

    def save(self, *args, **kwargs) -> None:
        """Save; ``settings`` is checked against ``tenants.settings_schema`` first (every writer,
        forms or not), raising ``ValidationError({"settings": ["<dotted.path>: ..."]})``."""
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "settings" in update_fields:
            try:
                validate_tenant_settings(self.settings)
            except ValidationError as exc:
                raise ValidationError({"settings": exc.messages}) from None
        super().save(*args, **kwargs)


class TenantScopedQuerySet(models.QuerySet):
    """QuerySet of tenant-owned rows (the scoped manager filters it to the tenant in context)."""


class TenantScopedManager(models.Manager.from_queryset(TenantScopedQuerySet)):
    """Fail-closed manager: rows of the tenant in context only; raises ``TenantNotSet`` without one.

    ``Model.objects.for_tenant(tenant)`` is the way for a service given a tenant (whatever is in
    context). ``Model.objects.unscoped()`` is the explicit, greppable opt-out for work that really
    spans tenants (dispatchers, maintenance, metrics, a task loader that resolves the tenant from
    a row id); every call site is pinned with its reason in ``revops/tests/test_unscoped_sites.py``.
    """

    def get_queryset(self) -> TenantScopedQuerySet:
        return super().get_queryset().filter(tenant=current_tenant())

    def for_tenant(self, tenant: Tenant | int) -> TenantScopedQuerySet:
        """Rows of ``tenant`` (a :class:`Tenant` or its primary key), whatever tenant is in context.

        Raises ``ValueError`` for an unsaved tenant (no primary key) or a value that is neither.
        """
        tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
        if isinstance(tenant_id, bool) or not isinstance(tenant_id, int):
            raise ValueError(f"for_tenant() needs a saved Tenant or its id, not {tenant!r}")
        return super().get_queryset().filter(tenant_id=tenant_id)

    def for_tenants(self, tenant_ids: Iterable[int] | models.QuerySet) -> TenantScopedQuerySet:
        """Rows of the tenants whose ids are given (ints, or a queryset of tenant ids used as a
        subquery), e.g. the tenants of a user's memberships in the admin."""
        ids = tenant_ids if isinstance(tenant_ids, models.QuerySet) else list(tenant_ids)
        return super().get_queryset().filter(tenant_id__in=ids)

    def for_task(self, pk: int, *, related: tuple[str, ...] = ()) -> models.Model | None:
        """The task loader's read: row ``pk`` whatever its tenant, with ``tenant`` (and ``related``)
        loaded, or None when it does not exist. A django-q2 task is given an id; this is where it
        resolves the tenant (DESIGN.md §3.4), then it enters ``tenant_context(row.tenant)``."""
        return self.unscoped().select_related("tenant", *related).filter(pk=pk).first()

    def unscoped(self) -> TenantScopedQuerySet:
        """All tenants' rows. Every call site must say why it needs them (and is pinned in a test)."""
        return super().get_queryset()


class TenantOwnedModel(models.Model):
    """Abstract base for every tenant-owned row (DESIGN.md §3.3).

    ``objects`` is scoped to the tenant in context. ``all_tenants`` is a plain manager that only
    Django's own machinery uses (it is the default and base manager, so related-object access,
    uniqueness checks and cascades keep working); application code never names it.
    Subclasses that declare ``Meta`` must inherit ``TenantOwnedModel.Meta``.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    objects = TenantScopedManager()
    all_tenants = models.Manager()

    class Meta:
        abstract = True
        default_manager_name = "all_tenants"
        base_manager_name = "all_tenants"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


ROLES_THAT_EDIT = {Role.OWNER, Role.ADMIN, Role.EDITOR}


class Membership(models.Model):
    """A user's role in a tenant (owner/admin/editor/viewer). Reached from the user, not scoped."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    slack_user_id = models.CharField(
        max_length=32, blank=True, help_text="The user's Slack member id in this tenant's workspace."
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class ApiKey(TenantOwnedModel):
    """An API key for a tenant. Only a SHA-256 hash of the secret is stored; the key is shown once.

    Key format: ``rk_<prefix>_<secret>`` where ``prefix`` (8 chars) is stored in clear to find the
    row and ``secret`` (32 bytes, url-safe base64) is verified against ``key_hash``.
    """

    name = models.CharField(max_length=100, default="default")
    can_approve = models.BooleanField(
        default=False, help_text="May approve or reject proposed actions (a human's approval tool, not an integration's)."
    )
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        pass

    def __str__(self) -> str:
        return f"{self.name} (rk_{self.prefix}_…)"


class IdempotencyKey(TenantOwnedModel):
    """The first result of a request sent with an ``Idempotency-Key`` header (``tenants.idempotency``).

    Scoped per tenant (not per API key: a client that retries after rotating its key still gets
    the first result). ``fingerprint`` (SHA-256 of method, path and canonical JSON body) tells a
    replay from a reuse with another request (409). A row with ``status_code`` null is a request
    still in flight inside its transaction. Expired rows (``expires_at``, 24 h) are ignored and
    purged daily.
    """

    key = models.CharField(max_length=255)
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="uniq_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"
