"""The current tenant, set once per entry point (API auth, Slack route, task loader, command).

A ``contextvars.ContextVar`` so it is correct per thread and per asyncio task. The scoped manager
(:class:`tenants.models.TenantScopedManager`) reads it and fails closed when it is unset.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from tenants.models import Tenant

_current: ContextVar["Tenant | None"] = ContextVar("current_tenant", default=None)


class TenantNotSet(RuntimeError):
    """Raised when tenant-owned rows are queried with no tenant in context."""


def current_tenant() -> "Tenant":
    """Return the tenant in context. Raises :class:`TenantNotSet` when there is none."""
    tenant = _current.get()
    if tenant is None:
        raise TenantNotSet(
            "No tenant in context: wrap the code in tenant_context(tenant) or use Model.objects.for_tenant(tenant)"
        )
    return tenant


def current_tenant_or_none() -> "Tenant | None":
    """Return the tenant in context, or None."""
    return _current.get()


@contextlib.contextmanager
def tenant_context(tenant: "Tenant") -> Iterator["Tenant"]:
    """Make ``tenant`` current inside the block (nesting restores the outer tenant on exit)."""
    token = _current.set(tenant)
    try:
        yield tenant
    finally:
        _current.reset(token)


def set_current_tenant(tenant: "Tenant | None") -> None:
    """Set the tenant for the rest of this context (used by DRF authentication, per request)."""
    _current.set(tenant)
