"""django-q2 tasks of the integrations app."""

from integrations.slack.services import slack_events_purge as _purge


def slack_events_purge() -> int:
    """Daily: delete Slack dedupe records older than two days (Slack retries within minutes)."""
    return _purge()
