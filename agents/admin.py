"""Admin for runs (a readable page: rendered answer, interpretation, sources, grounding, timeline) and prompt versions."""

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from agents.charts import alt_text, data_table, format_value, render_png, stored_chart, stored_charts
from agents.models import PromptVersion, Run, StepKind
from revops.lib.markdown import to_html
from tenants.admin_base import TenantScopedAdmin


def render_markdown(text: str) -> str:
    """Markdown (CommonMark plus tables and strikethrough) as sanitised HTML, safe to mark safe:
    :func:`revops.lib.markdown.to_html` (raw HTML shown as text, output through nh3's allow-list:
    no scripts, event handlers or ``javascript:`` links), links ``rel="noopener noreferrer nofollow"``."""
    return mark_safe(to_html(text or "", link_rel="noopener noreferrer nofollow"))  # noqa: S308 - sanitised by to_html


def grounding_sentence(grounding: dict | None) -> str:
    """``{"checked": 12, "unmatched": []}`` -> ``"12 of 12 figures traced to query results."``;
    names up to 5 untraced figures; says so when nothing was checked."""
    grounding = grounding or {}
    checked = int(grounding.get("checked") or 0)
    unmatched = [str(u) for u in grounding.get("unmatched") or []]
    if not checked:
        return "No figures in the answer to trace." if grounding else "Not checked."
    traced = max(0, checked - len(unmatched))
    sentence = f"{traced} of {checked} figure{'s' if checked != 1 else ''} traced to query results."
    if unmatched:
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        sentence += f" Not traced: {', '.join(unmatched[:5])}{more}."
    return sentence


@admin.register(Run)
class RunAdmin(TenantScopedAdmin):
    """A run as an editor reads it: the question, the rendered answer, how the question was
    interpreted, the sources as a list, grounding as a sentence and the step timeline (no raw
    JSON). Superusers see all tenants; members see their own (others' runs are 404)."""

    list_display = ["tracking_id", "tenant", "channel", "status", "short_query", "queued_at", "duration_ms"]
    list_filter = ["status", "channel"]
    search_fields = ["query", "tracking_id"]
    fieldsets = [
        (None, {"fields": ["query", "tenant", "status", "channel", "as_of", "created_by", "when"]}),
        ("Answer", {"fields": ["answer", "charts_html", "error", "interpreted_as", "sources", "grounding_text", "usage_text", "feedback_text"]}),
        ("Steps", {"fields": ["timeline"]}),
        ("Delivery", {"classes": ["collapse"], "fields": ["tracking_id", "route_text", "route_reason", "source_system", "source_process", "callback_url", "callback_status", "slack_files"]}),
    ]
    readonly_fields = [
        "query", "tenant", "status", "channel", "as_of", "created_by", "when", "answer", "charts_html", "error", "interpreted_as", "sources",
        "grounding_text", "usage_text", "feedback_text", "timeline", "tracking_id", "route_text", "route_reason",
        "source_system", "source_process", "callback_url", "callback_status", "slack_files",
    ]

    # --- charts: <img> from a staff-only, tenant-scoped view, alt text, the data table below ------

    def get_urls(self):
        chart = path("<path:object_id>/charts/<int:n>.png", self.admin_site.admin_view(self.chart_png_view), name="agents_run_chart")
        return [chart, *super().get_urls()]

    def chart_png_view(self, request, object_id: str, n: int) -> HttpResponse:
        """Chart ``n`` (1-based) of a run as PNG, for the run page's ``<img>``: staff only (the admin
        site's login), 404 for a run outside the user's tenants, an unknown run or no chart ``n``."""
        run = self.get_object(request, unquote(object_id))  # Http404 outside the user's tenants
        if not self.has_view_permission(request, run):
            raise Http404("No such run.")
        spec = stored_chart(run.charts, n)
        if spec is None:
            raise Http404(f"This run has no chart {n}.")
        response = HttpResponse(render_png(spec), content_type="image/png")
        response["Cache-Control"] = "private, max-age=86400"
        return response

    @admin.display(description="charts")
    def charts_html(self, run: Run) -> str:
        """Each chart as an image with its alt text (every figure) and its data table
        (``templates/admin/agents/run/charts.html``)."""
        charts = []
        for n, spec in stored_charts(run.charts):
            table = data_table(spec)
            charts.append({
                "n": n, "title": spec.title, "unit": spec.unit, "alt": alt_text(spec), "source_ref": spec.source_ref,
                "src": reverse("admin:agents_run_chart", args=[run.pk, n]),
                "columns": table["columns"],
                "rows": [[row[0], *(format_value(v, spec.unit) for v in row[1:])] for row in table["rows"]],
            })
        if not charts:
            return "No charts."
        return render_to_string("admin/agents/run/charts.html", {"charts": charts})

    @admin.display(description="Slack files")
    def slack_files(self, run: Run) -> str:
        """The answer's files uploaded to Slack (charts, wide tables): each as uploaded or why not."""
        files = (run.reply_to.get("slack") or {}).get("files") or []
        if not files:
            return "-"
        return format_html_join(
            "", "<div>{}: {}</div>",
            ((f.get("name", "?"), "uploaded" if f.get("ok") else f"not uploaded ({f.get('error') or 'unknown error'})") for f in files),
        )

    @admin.display(description="answer")
    def answer(self, run: Run) -> str:
        """The answer's markdown rendered as sanitised HTML."""
        if not run.answer_markdown:
            return "-"
        return format_html("<div class='revops-answer' style='max-width:60em'>{}</div>", render_markdown(run.answer_markdown))

    @admin.display(description="sources")
    def sources(self, run: Run) -> str:
        """The citations as a list: queries with their row counts, KB sections, web searches."""
        items = []
        for c in run.citations or []:
            if not isinstance(c, dict):
                continue
            kind = c.get("type")
            ref = c.get("ref", "")
            if kind == "sql":
                rows = c.get("row_count")
                items.append(format_html(
                    "<li><b>[{}]</b> {} ({} row{}, step {})<br><code style='white-space:pre-wrap'>{}</code></li>",
                    ref, c.get("purpose") or "query", rows, "" if rows == 1 else "s", c.get("step", "?"), (c.get("sql") or "")[:600],
                ))
            elif kind == "kb":
                section = f" › {c['heading_path']}" if c.get("heading_path") else ""
                items.append(format_html(
                    "<li><b>[{}]</b> Knowledge base: {}{} (version {})</li>", ref, c.get("title", ""), section, c.get("version", "?")
                ))
            elif kind == "web":
                links = format_html_join(", ", "<a href='{}' rel='noopener noreferrer nofollow'>{}</a>", ((u, u) for u in (c.get("urls") or [])[:5]))
                items.append(format_html("<li><b>[{}]</b> Web search “{}”: {}</li>", ref, c.get("query", ""), links or "no pages"))
            else:
                items.append(format_html("<li><b>[{}]</b> {}</li>", ref, kind or "source"))
        if not items:
            return "No sources."
        return format_html("<ol style='margin-left:1.5em'>{}</ol>", format_html_join("", "{}", ((i,) for i in items)))

    @admin.display(description="grounding")
    def grounding_text(self, run: Run) -> str:
        return grounding_sentence(run.grounding)

    @admin.display(description="model usage")
    def usage_text(self, run: Run) -> str:
        usage = run.usage or {}
        tokens_in, tokens_out = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
        provider = run.provider or "offline"
        if not tokens_in and not tokens_out:
            return f"{provider}: no LLM tokens used."
        return f"{provider}: {tokens_in:,} input + {tokens_out:,} output tokens."

    @admin.display(description="feedback")
    def feedback_text(self, run: Run) -> str:
        votes = [v.get("value") for v in (getattr(run, "feedback", None) or {}).values() if isinstance(v, dict)]
        if not votes:
            return "No feedback yet."
        return f"{votes.count('up')} helpful, {votes.count('down')} not helpful."

    @admin.display(description="time")
    def when(self, run: Run) -> str:
        parts = [f"queued {run.queued_at:%Y-%m-%d %H:%M:%S}"]
        if run.duration_ms is not None:
            parts.append(f"answered in {run.duration_ms:,} ms")
        return ", ".join(parts)

    @admin.display(description="route")
    def route_text(self, run: Run) -> str:
        return " → ".join(str(r) for r in run.route or []) or "-"

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
        if not rows:
            return "No steps recorded."
        return format_html(
            "<table><tr><th>#</th><th>agent</th><th>kind</th><th>name</th><th>detail</th><th>time</th><th>error</th></tr>{}</table>",
            body,
        )

    @admin.display(description="query")
    def short_query(self, run: Run) -> str:
        return run.query[:80]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


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

from agents import admin_schedules  # noqa: E402,F401  (tenant schedules: agents/admin_schedules.py)
