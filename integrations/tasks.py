"""django-q2 tasks of the integrations app (scheduled by ``agents/schedules.py``)."""

from datetime import timedelta

from django.utils import timezone

from integrations.models import SlackEvent

SLACK_EVENT_KEEP = timedelta(days=2)  # Slack stops retrying an event about an hour after the first attempt


def slack_events_purge(*, older_than: timedelta = SLACK_EVENT_KEEP) -> int:
    """Daily: delete Slack dedupe records (``SlackEvent``, all tenants) received more than
    ``older_than`` ago (default two days: Slack retries within the hour, so a wide margin);
    returns how many were deleted."""
    cutoff = timezone.now() - older_than
    deleted, _ = SlackEvent.objects.unscoped().filter(received_at__lt=cutoff).delete()  # all tenants: maintenance
    return deleted
