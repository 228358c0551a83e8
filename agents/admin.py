from django.contrib import admin

from agents.models import Run, RunStep


class RunStepInline(admin.TabularInline):
    model = RunStep
    extra = 0
    can_delete = False
    fields = ["position", "agent", "kind", "name", "output_summary", "duration_ms", "error", "input"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    """Runs as a readable timeline of steps. Superusers see all tenants; members see their own."""

    list_display = ["tracking_id", "tenant", "channel", "status", "short_query", "queued_at", "duration_ms"]
    list_filter = ["status", "channel"]
    search_fields = ["query", "tracking_id"]
    inlines = [RunStepInline]
    readonly_fields = [f.name for f in Run._meta.fields]

    @admin.display(description="query")
    def short_query(self, run: Run) -> str:
        return run.query[:80]

    def _tenant_ids(self, request):
        return list(request.user.memberships.values_list("tenant_id", flat=True))

    def get_queryset(self, request):
        qs = Run.objects.unscoped().select_related("tenant")  # admin spans the user's tenants
        return qs if request.user.is_superuser else qs.filter(tenant_id__in=self._tenant_ids(request))

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_staff and (request.user.is_superuser or bool(self._tenant_ids(request)))

    def has_view_permission(self, request, obj=None) -> bool:
        if not self.has_module_permission(request):
            return False
        return obj is None or request.user.is_superuser or obj.tenant_id in self._tenant_ids(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser
