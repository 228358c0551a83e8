import json

from django.contrib import admin
from django.http import Http404
from django.utils.html import format_html, format_html_join

from agents.models import PromptVersion, Run, RunStep, StepKind


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
    readonly_fields = ["timeline", "interpreted_as"] + [f.name for f in Run._meta.fields if f.name != "interpretation"]

    @admin.display(description="interpreted as")
    def interpreted_as(self, run: Run) -> str:
        """Whether the data agent answered or declined, the semantic query it ran and the parts of
        the question it could not map or did not use."""
        info = run.interpretation or {}
        if not info:
            return "-"
        query = info.get("semantic_query") or {}
        rows = [
            ("status", info.get("status", "")),
            ("metrics", ", ".join(query.get("metrics") or [])),
            ("breakdown", ", ".join(query.get("group_by") or []) + (f" by {query['grain']}" if query.get("grain") else "")),
            ("filters", "; ".join(f"{f['dimension']} {f['op']} {', '.join(map(str, f['values']))}" for f in query.get("filters") or [])),
            ("period", f"{query['period']['start']} to {query['period']['end']} {query['period'].get('label', '')}" if query.get("period") else "all time"),
            ("compared with", f"{query['compare']['start']} to {query['compare']['end']}" if query.get("compare") else ""),
            ("limit", query.get("limit") or ""),
            ("not mapped (declined)", ", ".join(info.get("unmapped") or [])),
            ("words not used", ", ".join(info.get("unused_words") or [])),
            ("reason", info.get("reason", "")),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th style='text-align:left'>{}</th><td>{}</td></tr>", [(k, v) for k, v in rows if v not in ("", None)]),
        )

    @admin.display(description="timeline")
    def timeline(self, run: Run) -> str:
        """The run's steps as a readable timeline: time offset, agent, what happened, tokens, errors."""
        rows = []
        for step in run.steps.all():
            detail = step.output_summary
            if step.kind == StepKind.TOOL_CALL and step.input.get("sql"):
                detail = f"{detail} · {step.input['sql'][:300]}"
            if step.kind == StepKind.LLM:
                calls = ", ".join(c["name"] for c in step.output.get("tool_calls", []))
                detail = f"{detail}{' · calls ' + calls if calls else ''} · prompt {step.input.get('system_prompt', '')}"
            rows.append((step.position, step.agent, step.get_kind_display(), step.name, detail, step.duration_ms, step.error or ""))
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style='max-width:60em'>{}</td><td>{} ms</td><td style='color:#b00'>{}</td></tr>",
            rows,
        )
        usage = json.dumps(run.usage or {})
        return format_html(
            "<p>{} · provider {} · tokens {} · grounding {}</p><table><tr><th>#</th><th>agent</th><th>kind</th><th>name</th><th>detail</th><th>time</th><th>error</th></tr>{}</table>",
            run.get_status_display(), run.provider or "offline", usage, json.dumps(run.grounding or {}), body,
        )

    @admin.display(description="query")
    def short_query(self, run: Run) -> str:
        return run.query[:80]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Another tenant's run is a 404, not Django's "does not exist" redirect.
        try:
            found = self.get_queryset(request).filter(pk=int(object_id)).exists()
        except ValueError:
            found = False
        if not found:
            raise Http404("No such run.")
        return super().change_view(request, object_id, form_url, extra_context)

    def _tenant_ids(self, request) -> list[int]:
        """Ids of the tenants the user is a member of (read once per request)."""
        if not hasattr(request, "_run_admin_tenant_ids"):
            request._run_admin_tenant_ids = list(request.user.memberships.values_list("tenant_id", flat=True))
        return request._run_admin_tenant_ids

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


@admin.register(PromptVersion)
class PromptVersionAdmin(admin.ModelAdmin):
    """System prompts by version (product code, shared by all tenants); superusers only."""

    list_display = ["name", "sha256", "created_at"]
    readonly_fields = ["name", "sha256", "text", "created_at"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
