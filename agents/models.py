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


class ScheduleAnalysis(models.TextChoices):
    """What a tenant schedule runs (the run's question is the analysis name, routed to the brief
    specialist; ``question`` runs the schedule's free question like any other run)."""

    DAILY_BRIEF = "daily_brief", "Daily executive brief"
    WEEKLY_SUMMARY = "weekly_summary", "Weekly summary"
    ALERTS = "alerts", "Proactive risk alerts"
    QUESTION = "question", "A free question"


class ScheduleCadence(models.TextChoices):
    DAILY = "daily", "Daily at a time of day"
    WEEKLY = "weekly", "Weekly on a weekday at a time of day"
    CRON = "cron", "Cron expression"


class Weekday(models.IntegerChoices):
    """Cron day-of-week numbers (croniter: 0 = Sunday)."""

    SUNDAY = 0, "Sunday"
    MONDAY = 1, "Monday"
    TUESDAY = 2, "Tuesday"
    WEDNESDAY = 3, "Wednesday"
    THURSDAY = 4, "Thursday"
    FRIDAY = 5, "Friday"
    SATURDAY = 6, "Saturday"


class AnalysisSchedule(TenantOwnedModel):
    """A tenant's scheduled analysis (issue 11 part 5), managed in the admin.

    Cadence: ``cron`` (five fields, in ``time_zone``), or ``daily``/``weekly`` at ``time_of_day``
    (and ``weekday``), compiled to a cron expression (:meth:`cron_expression`). ``time_zone``
    blank means the tenant's. Each saved schedule owns one django-q2 ``Schedule`` row named
    ``analysis-schedule-<pk>`` (``q_schedule_name``) whose task creates a run with channel
    ``schedule`` (``agents.scheduled.tasks.analysis_schedule_fire``); the answer goes to
    ``slack_channel`` (a channel id, posted by the tenant's bot), ``webhook_endpoint`` (one of the
    tenant's registered webhook endpoints, through a ``webhook`` action) or both. ``last_fired_at``
    / ``last_run``: the latest firing and the run it created.
    """

    name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=True)
    cadence = models.CharField(max_length=8, choices=ScheduleCadence.choices, default=ScheduleCadence.DAILY)
    cron = models.CharField(max_length=100, blank=True, default="", help_text="Five cron fields in the schedule's time zone, e.g. '0 8 * * 1-5'.")
    time_of_day = models.TimeField(null=True, blank=True, help_text="Daily and weekly cadences: local time (HH:MM).")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, null=True, blank=True, help_text="Weekly cadence.")
    time_zone = models.CharField(max_length=64, blank=True, default="", help_text="IANA time zone; blank: the tenant's.")
    analysis = models.CharField(max_length=32, choices=ScheduleAnalysis.choices, default=ScheduleAnalysis.DAILY_BRIEF)
    question = models.TextField(blank=True, default="", help_text="The question asked when the analysis is 'a free question'.")
    slack_channel = models.CharField(max_length=32, blank=True, default="", help_text="Slack channel id (C… or G…) the answer is posted to.")
    webhook_endpoint = models.ForeignKey(
        "actions.WebhookEndpoint", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="One of the tenant's webhook endpoints the answer is sent to.",
    )
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_analysis_schedule_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def q_schedule_name(self) -> str:
        """The name of this schedule's django-q2 ``Schedule`` row (stable while the row exists)."""
        return f"analysis-schedule-{self.pk}"

    def cron_expression(self) -> str:
        """The cadence as five cron fields in the schedule's time zone: ``"M H * * *"`` daily,
        ``"M H * * D"`` weekly (D: 0 = Sunday), else ``cron`` as entered."""
        if self.cadence == ScheduleCadence.CRON:
            return " ".join(self.cron.split())
        if self.time_of_day is None:
            return ""
        day = "*" if self.cadence == ScheduleCadence.DAILY else str(self.weekday if self.weekday is not None else "*")
        return f"{self.time_of_day.minute} {self.time_of_day.hour} * * {day}"

    def zone_name(self) -> str:
        """The IANA time zone the cadence is read in: ``time_zone``, else the tenant's."""
        return self.time_zone or self.tenant.time_zone


class AlertState(TenantOwnedModel):
    """Crossing state of one alert threshold for one entity (issue 11: once per crossing).

    ``entity_kind`` ``deal`` or ``account``; ``entity_key`` its CRM name or id; ``threshold`` the
    KB rule and level (``"stalled_in_stage_days>90"``, ``"churn_band>=Critical"``). ``above`` is
    the latest evaluation; an evaluation that finds the entity above while ``above`` is False is a
    crossing (``crossings`` + 1, owner notified); below re-arms it. ``value`` the latest measure
    (days, churn risk 0-100), ``owner`` the CRM owner notified.
    """

    entity_kind = models.CharField(max_length=16)
    entity_key = models.CharField(max_length=255)
    threshold = models.CharField(max_length=100)
    above = models.BooleanField(default=False)
    value = models.FloatField(null=True, blank=True)
    owner = models.CharField(max_length=200, blank=True, default="")
    crossings = models.PositiveIntegerField(default=0)
    last_crossed_at = models.DateTimeField(null=True, blank=True)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(fields=["tenant", "entity_kind", "entity_key", "threshold"], name="uniq_alert_state")
        ]

    def __str__(self) -> str:
        return f"{self.entity_kind} {self.entity_key} {self.threshold} ({'above' if self.above else 'below'})"
