"""Clears the tenant context around every request so a thread reused by the server never carries
the previous request's tenant (the API key authentication sets it per request)."""

from tenants.context import set_current_tenant


class TenantContextMiddleware:
    """Reset the thread's current tenant to None before and after each request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        set_current_tenant(None)
        try:
            return self.get_response(request)
        finally:
            set_current_tenant(None)
