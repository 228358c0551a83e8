"""Runs (one question answered by the agents), their steps, and conversations (threads)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from tenants.models import TenantOwnedModel


class Channel(models.TextChoices):
    API = "api", "REST API"
    SLACK = "slack", "Slack"
    SCHEDULE = "schedule", "Schedule"
    CLI = "cli", "Command line"


class Conversation(TenantOwnedModel):
    """A thread of runs: a Slack thread (``<channel id>:<thread ts>``) or an API ``thread_id``.

    Follow-up questions in the same conversation see the entities the earlier runs resolved.
    """

    channel = models.CharField(max_length=16, choices=Channel.choices)
    external_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel", "external_key"], name="uniq_conversation")
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.external_key}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Run(TenantOwnedModel):
    """One question, answered by the supervisor and specialist agents on a worker.

    ``route`` is the list of specialist names chosen; ``citations`` a list of dicts
    (``{"type": "sql", "sql", "row_count", "step"}`` or ``{"type": "kb", "document_id",
    "title", "version", "heading_path"}``); ``usage`` token counts (``{"input_tokens",
    "output_tokens"}``; zero offline); ``entities`` what the run resolved (account, contact...),
    read by follow-ups in the same conversation; ``reply_to`` where the answer goes besides the
    database (Slack ``{"channel", "thread_ts"}``).
    """

    tracking_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    conversation = models.ForeignKey(Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    query = models.TextField()
    as_of = models.DateField()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    route = models.JSONField(default=list, blank=True)
    route_reason = models.TextField(blank=True, default="")
    answer_markdown = models.TextField(blank=True, default="")
    answer_plain = models.TextField(blank=True, default="")
    citations = models.JSONField(default=list, blank=True)
    entities = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    provider = models.CharField(max_length=32, blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    grounding = models.JSONField(
        default=dict, blank=True, help_text='{"checked": n, "unmatched": ["$9,999", ...]}: numbers in the answer traced to tool results'
    )
    interpretation = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"status": "answered"|"declined", "semantic_query": {...}, "unmapped": [...], "unused_words": [...]}: '
        "how the data agent read the question (agents.semantic)",
    )
    charts = models.JSONField(
        default=list,
        blank=True,
        help_text="[agents.charts.ChartSpec as JSON, ...]: the figures of each chart the answer offers; "
        "the PNG is rendered on demand (GET /api/v1/runs/<id>/charts/<n>.png)",
    )
    feedback = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"slack:U123": {"value": "up"|"down", "at": "<ISO 8601 UTC>", "via": "slack"}, ...}: '
        "one vote per person (the latest click wins), from the answer's feedback buttons",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    source_system = models.CharField(max_length=100, blank=True, default="")
    source_process = models.CharField(max_length=100, blank=True, default="")
    callback_url = models.URLField(max_length=2000, blank=True, default="")
    callback_status = models.CharField(max_length=200, blank=True, default="")
    reply_to = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    queued_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True, help_text="last hand-over to the broker")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        indexes = [models.Index(fields=["tenant", "-queued_at"])]

    def __str__(self) -> str:
        return f"run {self.tracking_id} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        """Wall-clock time from start to finish in milliseconds, or None while unfinished."""
        if self.started_at and self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class StepKind(models.TextChoices):
    ROUTE = "route", "Route"
    TOOL_CALL = "tool_call", "Tool call"
    LLM = "llm", "LLM call"
    ANSWER = "answer", "Answer"


class RunStep(TenantOwnedModel):
    """One step of a run: the routing decision, a tool call (SQL, KB search, web search), an LLM
    call or the answer. ``input`` and ``output`` are redacted JSON (rows truncated to a preview);
    ``duration_ms`` in milliseconds."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    agent = models.CharField(max_length=32)
    kind = models.CharField(max_length=16, choices=StepKind.choices)
    name = models.CharField(max_length=64, blank=True, default="")
    input = models.JSONField(default=dict, blank=True)
    output_summary = models.TextField(blank=True, default="")
    output = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["run", "position"], name="uniq_step_position")]

    def __str__(self) -> str:
        return f"{self.position}. {self.agent} {self.kind} {self.name}"


class PromptVersion(models.Model):
    """A system prompt, stored once per distinct text (sha256) and referenced by LLM steps as
    ``"<name>@<sha256[:12]>"``. Not tenant-owned: prompts are product code, not tenant data."""

    name = models.CharField(max_length=64)
    sha256 = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"
