"""The delivery status of a run's callback, derived in one place.

A run created with a ``callback_url`` is delivered by a ``webhook`` action
(:func:`agents.callbacks.callback_deliver`); ``Run.callback_status`` is a one-line summary of
that action, written only by :func:`run_callback_status_store`: by the callback delivery itself
(first attempt, in the run's worker) and by :mod:`actions.services` whenever the action
reaches a final or deferred outcome later (dispatcher retries).
"""

from __future__ import annotations

from actions.models import Action, ActionStatus as S
from agents.models import Run

STATUS_MAX_CHARS = 200  # Run.callback_status max_length


def callback_status_text(action: Action) -> str:
    """A one-line status of a run-callback action: ``"delivered: HTTP 200"``,
    ``"refused by receiver: HTTP 404"``, ``"not delivered: <reason>"``, ``"failed after N
    attempts: <error>"``, ``"retrying: attempt 3 of 8 at <UTC time>Z (action N)"``, or
    ``"<status> (action N)"`` while it is pending or running."""
    code = (action.result or {}).get("status_code")
    if action.status == S.SUCCEEDED:
        return f"delivered: HTTP {code}"
    if action.status == S.FAILED:
        if code:
            return f"refused by receiver: HTTP {code}" if action.last_error.startswith("HTTP") else f"not delivered: {action.last_error}"
        return action.last_error if action.last_error.startswith("not delivered") else f"not delivered: {action.last_error}"
    if action.status == S.DEAD:
        return f"failed after {action.attempts} attempts: {action.last_error}"
    if action.status == S.QUEUED and action.next_attempt_at:
        return f"retrying: attempt {action.attempts + 1} of {action.max_attempts} at {action.next_attempt_at:%Y-%m-%d %H:%M:%S}Z (action {action.pk})"
    return f"{action.status} (action {action.pk})"


def run_callback_status_store(*, run_id: int, action: Action | None = None, refused: str = "") -> str:
    """Derive and store ``Run.callback_status`` of run ``run_id``; returns it (at most 200 chars).

    ``action``: the run's callback action (its status is summarised by
    :func:`callback_status_text`); ``refused``: when no action could be created, the reason
    (stored as ``"not delivered: <reason>"``). The run is updated by primary key (callers are
    workers and the callback delivery, which hold the run or its action).
    """
    status = (callback_status_text(action) if action is not None else f"not delivered: {refused}")[:STATUS_MAX_CHARS]
    Run.objects.unscoped().filter(pk=run_id).update(callback_status=status)  # by pk
    return status
