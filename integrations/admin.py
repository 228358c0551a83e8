from django.contrib import admin

from integrations.models import ConnectorCredential


@admin.register(ConnectorCredential)
class ConnectorCredentialAdmin(admin.ModelAdmin):
    """Secrets are never shown: the encrypted token is not a form field."""

    list_display = ["tenant", "kind", "name", "updated_at"]
    list_filter = ["kind", "tenant"]
    fields = ["tenant", "kind", "name", "config"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def get_queryset(self, request):
        return ConnectorCredential.objects.unscoped()  # superusers only (above)
