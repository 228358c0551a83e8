"""Read-only admin of the sync states (Salesforce objects and Gong calls): progress and last
status per stream, registered from ``integrations/admin.py``.

Members of a tenant see its rows (scoped by :class:`tenants.admin_base.TenantScopedAdmin`);
another tenant's row is a 404. Nobody adds, changes or deletes them here: the syncs write them.
"""

from __future__ import annotations

from django.contrib import admin

from integrations.models import SyncState
from tenants.admin_base import TenantScopedAdmin


@admin.register(SyncState)
class SyncStateAdmin(TenantScopedAdmin):
    """Watermark, last run, rows inserted or changed / deleted by the last run, last error."""

    list_display = ["tenant", "source", "stream", "table", "status", "watermark", "last_run_at", "last_success_at",
                    "rows_upserted", "rows_deleted", "last_error_short"]
    list_filter = ["source", "status", "tenant"]
    ordering = ["tenant", "source", "stream"]
    readonly_fields = ["tenant", "source", "stream", "table", "status", "watermark", "last_run_at", "last_success_at",
                       "rows_upserted", "rows_deleted", "last_error", "updated_at"]
    fields = readonly_fields

    @admin.display(description="last error")
    def last_error_short(self, obj: SyncState) -> str:
        return (obj.last_error[:120] + "…") if len(obj.last_error) > 120 else obj.last_error

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
