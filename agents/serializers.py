"""Typed request/response schemas of the runs API (DESIGN.md §5: typed schemas at boundaries)."""

from __future__ import annotations

from typing import get_args

from django.urls import reverse
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from agents.charts import MAX_CATEGORIES, Unit, alt_text, data_table, stored_charts
from agents.models import Run, RunStatus, RunStep
from agents.routing import SPECIALISTS
from agents.semantic.query import FilterOp, Grain
from agents.services import MAX_QUERY_CHARS
from revops.lib.text import StrictCharField, StrictUrlField
from revops.lib.urls import UnsafeURL, check_outbound_url


class RunCreateSerializer(serializers.Serializer):
    """``POST /api/v1/runs`` body. ``callback_url`` must pass the SSRF guard (https, public host).

    Text fields are strict (:class:`revops.lib.text.StrictCharField`): JSON strings only (``0`` or
    ``12345`` are refused, not coerced), no NUL characters or unpaired surrogates; the schema
    states the same (``pattern``, ``minLength`` 1 for ``query``)."""

    query = StrictCharField(max_length=MAX_QUERY_CHARS, trim_whitespace=True, help_text="The question; surrounding whitespace is trimmed and it may not be blank")
    source_system = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    source_process = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    callback_url = StrictUrlField(max_length=2000, required=False, allow_blank=True, default="")
    thread_id = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    as_of = serializers.DateField(required=False, allow_null=True, default=None, help_text="YYYY-MM-DD; default: the tenant's as-of date")

    def validate_as_of(self, value):
        # Periods are computed from as_of; keep it where calendar arithmetic is well defined.
        if value is not None and not (1900 <= value.year <= 2999):
            raise serializers.ValidationError("as_of must be between 1900-01-01 and 2999-12-31")
        return value

    def validate_callback_url(self, value: str) -> str:
        if value:
            try:
                check_outbound_url(value, resolve=False)  # resolved again at delivery time
            except UnsafeURL as exc:
                raise serializers.ValidationError(str(exc)) from exc
        return value


class RunQueuedSerializer(serializers.Serializer):
    """The 202 response of ``POST /api/v1/runs``."""

    tracking_id = serializers.UUIDField()
    status = serializers.CharField()
    queued_at = serializers.DateTimeField()


# --- typed JSON columns: stored as JSON, described precisely in the OpenAPI schema -----------------


class SqlCitationSerializer(serializers.Serializer):
    """A warehouse query behind a figure."""

    ref = serializers.IntegerField(min_value=1, help_text="Citation number, shown as [n] in the answer (1-based, unique within the run)")
    type = serializers.ChoiceField(choices=["sql"])
    purpose = serializers.CharField(required=False)
    sql = serializers.CharField()
    params = serializers.DictField(required=False)
    row_count = serializers.IntegerField()
    step = serializers.IntegerField(help_text="Position of the step that ran it")


class KbCitationSerializer(serializers.Serializer):
    """A knowledge-base document section the answer relies on."""

    ref = serializers.IntegerField(min_value=1, help_text="Citation number, shown as [n] in the answer")
    type = serializers.ChoiceField(choices=["kb"])
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    version = serializers.IntegerField()
    heading_path = serializers.CharField(allow_blank=True)


class WebPageSerializer(serializers.Serializer):
    """One page a web search returned (integrations.web_search.base.SearchHit)."""

    url = serializers.URLField()
    title = serializers.CharField(allow_blank=True)
    published = serializers.CharField(allow_blank=True, help_text="Publication date YYYY-MM-DD given by the provider; empty when it gave none")


class WebCitationSerializer(serializers.Serializer):
    """A web search and the pages it returned."""

    ref = serializers.IntegerField(min_value=1, help_text="Citation number, shown as [n] in the answer")
    type = serializers.ChoiceField(choices=["web"])
    query = serializers.CharField()
    urls = serializers.ListField(child=serializers.URLField())
    pages = WebPageSerializer(many=True, required=False, help_text="The pages with their titles and dates, in the order of ``urls``")
    step = serializers.IntegerField()


class UsageSerializer(serializers.Serializer):
    """LLM token counts of the run (zero when no LLM was used)."""

    input_tokens = serializers.IntegerField(required=False)
    output_tokens = serializers.IntegerField(required=False)


class GroundingSerializer(serializers.Serializer):
    """Numbers in the answer traced to tool results: how many were checked, which were not found."""

    checked = serializers.IntegerField(required=False)
    unmatched = serializers.ListField(child=serializers.CharField(), required=False)


class SemanticFilterSerializer(serializers.Serializer):
    """``agents.semantic.query.Filter.as_dict``."""

    dimension = serializers.CharField()
    op = serializers.ChoiceField(choices=list(get_args(FilterOp)))
    values = serializers.ListField(child=serializers.JSONField(), help_text="Canonical values (in/not_in, contains) or one number or date (comparisons)")


class TimeRangeSerializer(serializers.Serializer):
    """``agents.semantic.query.TimeRange.as_dict``: an inclusive date range."""

    time_dimension = serializers.CharField(allow_null=True, help_text="null: each measure's own time dimension")
    start = serializers.DateField()
    end = serializers.DateField(help_text="Inclusive")
    label = serializers.CharField(allow_blank=True, help_text="e.g. Q2 2025")
    complete = serializers.BooleanField(required=False, help_text="false when the range was cut at the as-of date (a period to date)")


class OrderBySerializer(serializers.Serializer):
    """One sort key: a metric or dimension name, highest first when ``desc``."""

    by = serializers.CharField()
    desc = serializers.BooleanField()


class SemanticQuerySerializer(serializers.Serializer):
    """The question in the semantic model's own names (``agents.semantic.query.SemanticQuery.as_dict``)."""

    metrics = serializers.ListField(child=serializers.CharField())
    group_by = serializers.ListField(child=serializers.CharField(), required=False)
    filters = SemanticFilterSerializer(many=True, required=False)
    period = TimeRangeSerializer(required=False, allow_null=True)
    grain = serializers.ChoiceField(choices=list(get_args(Grain)), required=False, allow_null=True, help_text="Time series grain; null: no series")
    compare = TimeRangeSerializer(required=False, allow_null=True, help_text="A second period the metrics are also computed for")
    order = OrderBySerializer(many=True, required=False)
    limit = serializers.IntegerField(required=False, allow_null=True)
    fields = serializers.ListField(child=serializers.CharField(), required=False, help_text="Dimensions listed row by row (no metrics): a list rather than aggregates")


class InterpretationSerializer(serializers.Serializer):
    """How the data agent read the question (``agents.playbooks.data._interpretation``); ``{}`` for other agents."""

    status = serializers.ChoiceField(choices=["answered", "declined"], required=False)
    semantic_query = SemanticQuerySerializer(required=False, allow_null=True)
    unmapped = serializers.ListField(child=serializers.CharField(), required=False, help_text="Parts of the question not in the semantic model")
    unused_words = serializers.ListField(child=serializers.CharField(), required=False)
    matched = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField(allow_blank=True), min_length=2, max_length=2),
        required=False,
        help_text="[question text, what it was read as] pairs, in question order",
    )
    reason = serializers.CharField(required=False, allow_blank=True, help_text="Why the question was declined; empty otherwise")


@extend_schema_field({"type": "string", "enum": list(RunStatus.values), "description": "queued, running, succeeded or failed"})
class RunStatusField(serializers.ChoiceField):
    """A run's status (an inline enum in the schema: the name ``status`` is shared with actions)."""

    def __init__(self, **kwargs):
        super().__init__(choices=RunStatus.choices, **kwargs)


@extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(SPECIALISTS))))
class RouteField(serializers.JSONField):
    """The specialists the supervisor chose, in order."""


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="Citation",
        # a mapping, so the discriminator maps each ``type`` value (a list would map them all to "null")
        serializers={"sql": SqlCitationSerializer, "kb": KbCitationSerializer, "web": WebCitationSerializer},
        resource_type_field_name="type",
        many=True,
    )
)
class CitationsField(serializers.JSONField):
    """Sources of the answer: ``sql``, ``kb`` or ``web`` citations."""


@extend_schema_field(UsageSerializer)
class UsageField(serializers.JSONField):
    pass


@extend_schema_field(GroundingSerializer)
class GroundingField(serializers.JSONField):
    pass


@extend_schema_field(InterpretationSerializer)
class InterpretationField(serializers.JSONField):
    pass


class RunStepSerializer(serializers.ModelSerializer):
    """One recorded step; ``input`` is already redacted, ``duration_ms`` in milliseconds."""

    class Meta:
        model = RunStep
        fields = ["position", "agent", "kind", "name", "input", "output_summary", "duration_ms", "error"]


class RunSummarySerializer(serializers.ModelSerializer):
    """A run as ``GET /api/v1/runs`` lists it: everything but the steps."""

    status = RunStatusField()
    answer = serializers.CharField(source="answer_markdown")
    thread_id = serializers.SerializerMethodField()
    duration_ms = serializers.IntegerField(allow_null=True)
    route = RouteField(read_only=True)
    citations = CitationsField(read_only=True)
    usage = UsageField(read_only=True)
    grounding = GroundingField(read_only=True)
    interpretation = InterpretationField(
        read_only=True,
        help_text='How the data agent read the question: {"status": "answered"|"declined", "semantic_query": {metrics, group_by, '
        'filters, period, grain, compare, order, limit, fields}, "unmapped": [parts not in the semantic model], "unused_words": [...], '
        '"matched": [[question text, meaning]], "reason": why declined or ""}; {} for other agents',
    )

    class Meta:
        model = Run
        fields = [
            "tracking_id", "status", "query", "as_of", "route", "route_reason", "answer", "answer_plain",
            "citations", "interpretation", "grounding", "error", "provider", "usage", "source_system", "source_process", "thread_id",
            "callback_status", "queued_at", "started_at", "finished_at", "duration_ms",
        ]

    def get_thread_id(self, run: Run) -> str | None:
        return run.conversation.external_key if run.conversation_id and run.channel == "api" else None


@extend_schema_field(RunStepSerializer(many=True))
class StepsField(serializers.Field):
    """The run's steps as the view fetched them (``context["steps"]``); output only. Not read-only
    on purpose, so the schema lists it as optional: it is present only with ``?include=steps``."""

    def __init__(self, **kwargs):
        super().__init__(source="*", required=False, help_text="Only with ?include=steps", **kwargs)

    def to_representation(self, run):
        return RunStepSerializer(self.context["steps"], many=True).data

    def to_internal_value(self, data):
        raise serializers.ValidationError("steps are read-only")


class ChartDataSerializer(serializers.Serializer):
    """A chart's underlying figures as a table (:func:`agents.charts.data_table`)."""

    columns = serializers.ListField(child=serializers.CharField(allow_blank=True), help_text="The category column's name, then one column per series")
    rows = serializers.ListField(
        child=serializers.ListField(child=serializers.JSONField()),
        max_length=MAX_CATEGORIES,
        help_text="One row per category: [category label (string), value of each series (number, or null when missing)]",
    )
    unit = serializers.ChoiceField(choices=list(get_args(Unit)), help_text="Unit of the values: USD, count, percent (0-100), ratio, days or number")


class ChartSerializer(serializers.Serializer):
    """A chart the answer offers: its PNG's URL, alt text stating every figure, and the figures."""

    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=["bar", "line", "bar_target"], help_text="bar: a breakdown; line: a trend over a time grain; bar_target: bars with a target line")
    unit = serializers.ChoiceField(choices=list(get_args(Unit)))
    alt_text = serializers.CharField(help_text="A description stating every figure the chart shows")
    url = serializers.URLField(help_text="The PNG (GET with the same API key; rendered on demand, 1000 x 560 px)")
    data = ChartDataSerializer()
    source_ref = serializers.IntegerField(allow_null=True, help_text="Citation number [n] of the query the figures came from; null when none")


def chart_url(request, tracking_id, n: int) -> str:
    """``/api/v1/runs/<id>/charts/<n>.png``, absolute when the request is known."""
    path = reverse("run-chart", kwargs={"tracking_id": tracking_id, "n": n})
    return request.build_absolute_uri(path) if request is not None else path


@extend_schema_field(ChartSerializer(many=True))
class ChartsField(serializers.Field):
    """The run's charts (``Run.charts`` specs) as the API shows them; output only."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, run):
        request = self.context.get("request")
        return [
            {
                "title": spec.title,
                "kind": spec.kind,
                "unit": spec.unit,
                "alt_text": alt_text(spec),
                "url": chart_url(request, run.tracking_id, n),
                "data": data_table(spec),
                "source_ref": spec.source_ref,
            }
            for n, spec in stored_charts(run.charts)
        ]


class RunDetailSerializer(RunSummarySerializer):
    """``GET /api/v1/runs/{tracking_id}``: status, answer, citations, charts and, with
    ``?include=steps``, the steps (the view passes them as ``context["steps"]``; ``None`` there
    leaves the field out). Chart URLs are absolute when ``context["request"]`` is given."""

    charts = ChartsField(help_text="Charts the answer offers (breakdowns, trends, forecast vs target); [] when none")
    steps = StepsField()

    class Meta(RunSummarySerializer.Meta):
        fields = RunSummarySerializer.Meta.fields + ["charts", "steps"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "steps" in self.context and self.context["steps"] is None:
            self.fields.pop("steps")
