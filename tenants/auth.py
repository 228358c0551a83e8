"""DRF authentication by tenant API key: the one place the API resolves the tenant (DESIGN §3.4)."""

from __future__ import annotations

from rest_framework import authentication, exceptions, permissions

from tenants.context import set_current_tenant
from tenants.services import ApiKeyInvalid, apikey_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer rk_<prefix>_<secret>``; sets ``request.auth`` to the ApiKey and the
    tenant in context. Returns 401 with a ``WWW-Authenticate: Bearer`` challenge on failure."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <api key>'.")
        try:
            key = apikey_authenticate(raw_key=raw.strip())
        except ApiKeyInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        set_current_tenant(key.tenant)
        request.tenant = key.tenant
        return (None, key)

    def authenticate_header(self, request) -> str:
        return self.keyword


class HasTenant(permissions.BasePermission):
    """Allows requests authenticated with a tenant API key."""

    def has_permission(self, request, view) -> bool:
        return getattr(request, "tenant", None) is not None
