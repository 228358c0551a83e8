"""Schedules declared in code (DESIGN.md §3.7): stable dotted paths, created or updated idempotently."""

from __future__ import annotations

SCHEDULES = [
    # name, func, schedule type (I = minutes), minutes
    ("agents.reap_stale_runs", "agents.tasks.reap_stale_runs", "I", 1),
    ("integrations.slack_events_purge", "integrations.tasks.slack_events_purge", "I", 24 * 60),
    ("actions.dispatch_due", "actions.tasks.dispatch_due_actions", "I", 1),
    ("tenants.idempotency_keys_purge", "tenants.idempotency.idempotency_keys_purge", "I", 24 * 60),
    ("integrations.connector_syncs_dispatch", "integrations.tasks.connector_syncs_dispatch", "I", 5),
]


def schedules_ensure(schedule_model) -> None:
    """Create or update every schedule; ``schedule_model`` is django_q's Schedule (or its
    historical version inside a migration)."""
    for name, func, kind, minutes in SCHEDULES:
        schedule_model.objects.update_or_create(name=name, defaults={"func": func, "schedule_type": kind, "minutes": minutes, "repeats": -1})
