"""Writes for tenant schedules: the django-q2 ``Schedule`` row each one owns, the next firing time
in the schedule's time zone, and the delivery of a schedule run's answer.

Time zones (the choice, documented): each :class:`~agents.models.AnalysisSchedule` owns one
django-q2 ``Schedule`` of type ``CRON`` whose ``cron`` is the schedule's own expression, read in
the **schedule's local time zone**. django-q2 itself reads cron in ``settings.TIME_ZONE`` (UTC),
so we never let it decide when to fire: ``next_run`` is computed here with croniter from the
local time zone (DST-correct, :func:`next_fire`) when the schedule is saved and again after every
firing (:func:`q_schedule_advance`, under a row lock that waits for django-q2's scheduler to commit
its own guess). The firing task receives the intended time (``intended_date_kwarg``) and checks
that it matches the cron expression in local time, so a firing at django-q2's UTC reading (only
possible if the task could not advance the row) is skipped rather than run at the wrong hour.
A translated UTC cron string was rejected: it is wrong for half the year across DST changes and
shifts weekdays when the offset crosses midnight.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo

from croniter import CroniterBadDateError, croniter
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule
from slack_sdk.errors import SlackApiError, SlackClientError

from actions.handlers.base import ActionInvalid
from actions.services import action_create
from agents.alerts import alerts_record
from agents.models import AnalysisSchedule, Run, RunStatus, ScheduleAnalysis
from agents.slack_replies import run_answer_messages
from integrations.slack.client import slack_client
from integrations.slack.selectors import slack_app_get

logger = logging.getLogger(__name__)

FIRE_TASK = "agents.scheduled.tasks.analysis_schedule_fire"
INTENDED_KWARG = "intended"


class ScheduleInvalid(ValueError):
    """A schedule's cadence or time zone cannot be used; the message names the field."""


def cron_check(expression: str) -> str:
    """``expression`` normalised (single spaces) when it is five valid cron fields (croniter);
    raises :class:`ScheduleInvalid` otherwise."""
    normal = " ".join((expression or "").split())
    if len(normal.split(" ")) != 5 or not croniter.is_valid(normal):
        raise ScheduleInvalid(f"'{expression}' is not a cron expression of five fields (minute hour day-of-month month day-of-week), e.g. '0 8 * * 1-5'")
    try:  # valid fields that never match a date (e.g. 31 February) would fail at the first firing
        croniter(normal, dt.datetime(2000, 1, 1)).get_next(dt.datetime)
    except CroniterBadDateError:
        raise ScheduleInvalid(f"'{expression}' never matches a date (e.g. 31 February); choose a day that exists") from None
    return normal


def zone_check(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``name``; raises :class:`ScheduleInvalid` for an unknown one."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleInvalid(f"unknown time zone '{name}' (use an IANA name such as Europe/Paris)") from None


def next_fire(expression: str, zone: str, *, after: dt.datetime) -> dt.datetime:
    """The first time strictly after ``after`` (aware) matching ``expression`` read in ``zone``,
    as an aware UTC datetime (croniter iterates local wall-clock times, so 08:00 stays 08:00
    across DST changes)."""
    local = after.astimezone(zone_check(zone))
    return croniter(cron_check(expression), local).get_next(dt.datetime).astimezone(dt.timezone.utc)


def is_due(expression: str, zone: str, *, at: dt.datetime) -> bool:
    """Whether ``at`` (aware) is a firing time of ``expression`` in ``zone`` (to the minute)."""
    local = at.astimezone(zone_check(zone)).replace(second=0, microsecond=0)
    return croniter.match(cron_check(expression), local)


def analysis_schedule_sync(*, schedule: AnalysisSchedule) -> Schedule | None:
    """Create, update or delete ``schedule``'s django-q2 ``Schedule`` row (named
    ``schedule.q_schedule_name``): present with the next local firing time while the schedule is
    enabled, absent while it is disabled. Returns the row (None when removed). Raises
    :class:`ScheduleInvalid` for a bad cadence or time zone (the admin form checks first)."""
    if not schedule.enabled:
        Schedule.objects.filter(name=schedule.q_schedule_name).delete()
        return None
    expression = cron_check(schedule.cron_expression())
    zone = schedule.zone_name()
    row, _ = Schedule.objects.update_or_create(
        name=schedule.q_schedule_name,
        defaults={
            "func": FIRE_TASK,
            "args": repr((schedule.pk,)),
            "kwargs": "",
            "schedule_type": Schedule.CRON,
            "cron": expression,
            "repeats": -1,
            "intended_date_kwarg": INTENDED_KWARG,
        },
    )
    # Schedule.save() sets next_run from the cron read in UTC when it creates the row: ours wins.
    row.next_run = next_fire(expression, zone, after=timezone.now())
    Schedule.objects.filter(pk=row.pk).update(next_run=row.next_run)
    return row


def analysis_schedule_remove(*, schedule: AnalysisSchedule) -> None:
    """Delete ``schedule``'s django-q2 row (called before the schedule itself is deleted)."""
    Schedule.objects.filter(name=schedule.q_schedule_name).delete()


def q_schedule_advance(*, schedule: AnalysisSchedule, after: dt.datetime) -> dt.datetime | None:
    """Set the django-q2 row's ``next_run`` to the first local firing time after ``after``; the
    row lock waits for the scheduler's transaction that fired it. Returns the new time (None
    when the row is gone)."""
    with transaction.atomic():
        row = Schedule.objects.select_for_update().filter(name=schedule.q_schedule_name).first()
        if row is None:
            return None
        row.next_run = next_fire(schedule.cron_expression(), schedule.zone_name(), after=max(after, timezone.now()))
        Schedule.objects.filter(pk=row.pk).update(next_run=row.next_run)
        return row.next_run


# -- delivery -----------------------------------------------------------------------------------
def _claim_delivery(run: Run) -> bool:
    """Mark the run's schedule delivery as done (conditional UPDATE): True for the one caller that
    marks it, so a retried delivery never posts twice."""
    target = dict(run.reply_to.get("schedule") or {})
    marked = {**run.reply_to, "schedule": {**target, "delivered": True}}
    claimed = Run.objects.filter(pk=run.pk).exclude(reply_to__schedule__has_key="delivered").update(reply_to=marked)
    if claimed:
        run.reply_to = marked
    return bool(claimed)


def schedule_deliver(*, run: Run) -> dict:
    """Deliver a schedule run's answer (called by the run's worker once the run is stored, inside
    ``tenant_context(run.tenant)``; never raises). Returns what was done:
    ``{"slack": messages posted, "webhook": action id or None, "alerts": crossings}``.

    - ``alerts`` runs: crossing state and owner notifications (:func:`agents.alerts.alerts_record`);
    - other runs: the answer as Block Kit messages (the layout of Slack answers) posted by the
      tenant's bot to the schedule's channel, and/or a ``schedule.answer`` webhook action to the
      schedule's endpoint (signed and retried by the actions engine).
    """
    target = run.reply_to.get("schedule") or {}
    done: dict = {"slack": 0, "webhook": None, "alerts": None}
    if not target or not _claim_delivery(run):
        return done
    schedule = AnalysisSchedule.objects.filter(pk=target.get("id")).select_related("webhook_endpoint").first()
    try:
        if target.get("analysis") == ScheduleAnalysis.ALERTS:
            if run.status == RunStatus.SUCCEEDED:
                done["alerts"] = len(alerts_record(run=run, schedule=schedule).crossed)
            return done
        if target.get("slack_channel"):
            done["slack"] = _post_to_channel(run, str(target["slack_channel"]))
        if schedule is not None and schedule.webhook_endpoint_id:
            done["webhook"] = _webhook(run, schedule)
    except Exception:  # the worker must never die on a delivery
        logger.exception("schedule run %s: delivery failed", run.pk)
    return done


def _post_to_channel(run: Run, channel: str) -> int:
    app = slack_app_get()
    if app is None or not app.bot_token:
        logger.warning("schedule run %s: the tenant has no Slack bot token; not posted", run.pk)
        return 0
    client = slack_client(token=app.bot_token)
    posted = 0
    for message in run_answer_messages(run=run):
        try:
            client.chat_postMessage(channel=channel, text=message.text, blocks=message.blocks or None, unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            logger.warning("schedule run %s: Slack refused the answer: %s", run.pk, exc.response.get("error"))
            break
        except (SlackClientError, OSError) as exc:
            logger.warning("schedule run %s: Slack unreachable: %s", run.pk, type(exc).__name__)
            break
        posted += 1
    return posted


def _webhook(run: Run, schedule: AnalysisSchedule) -> int | None:
    data = {
        "schedule": schedule.name,
        "run": str(run.tracking_id),
        "status": run.status,
        "query": run.query,
        "as_of": run.as_of.isoformat(),
        "answer_markdown": run.answer_markdown,
        "citations": run.citations,
    }
    try:
        proposal = action_create(
            tenant=run.tenant, kind="webhook",
            payload={"endpoint_id": schedule.webhook_endpoint_id, "event_type": "schedule.answer", "data": data},
            idempotency_key=f"schedule:{run.tracking_id}:webhook", run=run, requested_via="schedule",
        )
    except ActionInvalid as exc:
        logger.warning("schedule run %s: webhook not valid: %s", run.pk, exc)
        return None
    return proposal.action.pk
