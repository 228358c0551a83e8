"""django-q2 task of tenant schedules: thin, takes an id (DESIGN.md §3.6)."""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from agents.models import AnalysisSchedule, Channel, ScheduleAnalysis
from agents.scheduled.services import is_due, q_schedule_advance
from agents.services import run_create
from tenants.context import tenant_context

logger = logging.getLogger(__name__)


def analysis_schedule_fire(schedule_id: int, intended: str | None = None) -> str:
    """Fire schedule ``schedule_id`` for the time ``intended`` (ISO 8601, from django-q2's
    ``intended_date_kwarg``; None: now, a manual firing).

    Creates a run with channel ``schedule`` through :func:`agents.services.run_create` (enqueued
    like any run; its answer is delivered by :func:`agents.scheduled.services.schedule_deliver`),
    records ``last_fired_at`` (the intended time) and ``last_run``, and moves the django-q2 row to
    the next local firing time. Idempotent: a second delivery for the same intended time finds
    ``last_fired_at`` already there and creates nothing. A firing whose intended time is not a
    firing time in the schedule's time zone (django-q2's UTC reading) only reschedules.
    """
    schedule = AnalysisSchedule.objects.for_task(schedule_id)
    if schedule is None:
        return "skipped: no such schedule"
    when = dt.datetime.fromisoformat(intended) if intended else timezone.now()
    if timezone.is_naive(when):
        when = timezone.make_aware(when, dt.timezone.utc)
    with tenant_context(schedule.tenant):
        q_schedule_advance(schedule=schedule, after=when)
        if not schedule.enabled:
            return "skipped: disabled"
        expression = schedule.cron_expression()
        if intended and not is_due(expression, schedule.zone_name(), at=when):
            return f"skipped: {when.isoformat()} is not a firing time of '{expression}' in {schedule.zone_name()}"
        claimed = AnalysisSchedule.objects.filter(pk=schedule.pk).exclude(last_fired_at__gte=when).update(last_fired_at=when)
        if not claimed:
            return "skipped: already fired for this time"
        query = schedule.question if schedule.analysis == ScheduleAnalysis.QUESTION else schedule.analysis
        run = run_create(
            tenant=schedule.tenant,
            channel=Channel.SCHEDULE,
            query=query,
            source_system="schedule",
            source_process=schedule.name[:100],
            reply_to={"schedule": {"id": schedule.pk, "analysis": schedule.analysis, "slack_channel": schedule.slack_channel}},
        )
        AnalysisSchedule.objects.filter(pk=schedule.pk).update(last_run=run)
    logger.info("schedule %s fired: run %s", schedule.pk, run.pk)
    return f"run {run.tracking_id}"
