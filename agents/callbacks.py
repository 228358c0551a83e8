"""Delivery of a finished run to the ``callback_url`` given when it was created.

The delivery is a ``webhook`` action (``actions``): recorded with the idempotency key
``run-callback:<tracking id>`` (a re-executed run never calls back twice), signed per Standard
Webhooks with the tenant's run-callback secret (``manage.py signing_secret --tenant SLUG``),
SSRF-checked at delivery time, only 2xx is success, redirects are not followed, 408/429/5xx and
network errors are retried with backoff (the first retries in this worker, later ones by the
actions dispatcher), timeout 15 s. ``run.callback_status`` follows the action's outcome; it is
derived and stored only by :func:`actions.callback_status.run_callback_status_store`.

Body: the run document of :func:`run_payload` plus ``"type": "run.completed"``.
"""

from __future__ import annotations

import logging

from actions.callback_status import run_callback_status_store
from actions.handlers.base import ActionInvalid
from actions.models import ActionKind
from actions.services import action_create, action_execute
from agents.models import Run

logger = logging.getLogger(__name__)

CALLBACK_EVENT = "run.completed"


def run_payload(run: Run) -> dict:
    """The JSON document describing a finished run (also the API's view of it, minus steps)."""
    return {
        "tracking_id": str(run.tracking_id),
        "status": run.status,
        "source_system": run.source_system,
        "source_process": run.source_process,
        "query": run.query,
        "as_of": run.as_of.isoformat(),
        "route": run.route,
        "answer": run.answer_markdown,
        "answer_plain": run.answer_plain,
        "citations": run.citations,
        "error": run.error,
        "queued_at": run.queued_at.isoformat() if run.queued_at else None,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_ms": run.duration_ms,
    }


def callback_deliver(*, run: Run) -> str:
    """POST the run to its callback URL now (in this worker) through a webhook action.

    Returns and stores (``run.callback_status``) a short status: ``"delivered: HTTP 200"``,
    ``"refused by receiver: HTTP 404"``, ``"not delivered: <SSRF guard reason>"``,
    ``"retrying: attempt 3 of 8 at ... (action N)"`` or ``"failed after N attempts: ..."``.
    A run whose callback action already exists reports that action's status without sending.
    """
    if not run.callback_url:
        return ""
    try:
        proposal = action_create(
            tenant=run.tenant,
            kind=ActionKind.WEBHOOK,
            payload={"callback_url": run.callback_url, "event_type": CALLBACK_EVENT, "data": run_payload(run)},
            idempotency_key=f"run-callback:{run.tracking_id}",
            run=run,
            requested_by=run.created_by,
            requested_via="callback",
            enqueue=False,
        )
    except ActionInvalid as exc:
        return run_callback_status_store(run_id=run.pk, refused=str(exc))
    action = proposal.action
    if proposal.created:
        action = action_execute(action_id=action.pk) or action
    status = run_callback_status_store(run_id=run.pk, action=action)
    logger.info("run %s callback %s", run.pk, status)
    return status
