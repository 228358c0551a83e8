"""Typed request/response schemas of the runs API (DESIGN.md §5: typed schemas at boundaries)."""

from __future__ import annotations

from rest_framework import serializers

from agents.models import Run, RunStep
from agents.services import MAX_QUERY_CHARS
from revops.lib.urls import UnsafeURL, check_outbound_url


class RunCreateSerializer(serializers.Serializer):
    """``POST /api/v1/runs`` body. ``callback_url`` must pass the SSRF guard (https, public host)."""

    query = serializers.CharField(max_length=MAX_QUERY_CHARS, trim_whitespace=True)
    source_system = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    source_process = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    callback_url = serializers.URLField(max_length=2000, required=False, allow_blank=True, default="")
    thread_id = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
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


class RunStepSerializer(serializers.ModelSerializer):
    """One recorded step; ``input`` is already redacted, ``duration_ms`` in milliseconds."""

    class Meta:
        model = RunStep
        fields = ["position", "agent", "kind", "name", "input", "output_summary", "duration_ms", "error"]


class RunDetailSerializer(serializers.ModelSerializer):
    """``GET /api/v1/runs/{tracking_id}``: status, answer, citations and steps of one run."""

    answer = serializers.CharField(source="answer_markdown")
    thread_id = serializers.SerializerMethodField()
    steps = RunStepSerializer(many=True, read_only=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    interpretation = serializers.JSONField(
        read_only=True,
        help_text='How the data agent read the question: {"status": "answered"|"declined", "semantic_query": {metrics, group_by, '
        'filters, period, compare, order, limit}, "unmapped": [parts not in the semantic model], "unused_words": [...]}; {} for other agents',
    )

    class Meta:
        model = Run
        fields = [
            "tracking_id", "status", "query", "as_of", "route", "route_reason", "answer", "answer_plain",
            "citations", "interpretation", "error", "provider", "usage", "source_system", "source_process", "thread_id",
            "callback_status", "queued_at", "started_at", "finished_at", "duration_ms", "steps",
        ]

    def get_thread_id(self, run: Run) -> str | None:
        return run.conversation.external_key if run.conversation_id and run.channel == "api" else None
