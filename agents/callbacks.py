"""Delivery of a finished run to the ``callback_url`` given when it was created.

POST JSON (tracking id, source system/process, query, status, answer markdown and plain,
citations, timings); only 2xx is success; redirects are not followed; 429/5xx and network
errors are retried (3 attempts, exponential backoff); timeout 15 s. The URL is re-checked
against the SSRF guard at delivery time. The outcome is stored in ``run.callback_status``.
"""

from __future__ import annotations

import logging

import httpx
from tenacity import RetryError, retry, retry_if_exception, stop_after_attempt, wait_exponential

from agents.models import Run
from revops.lib.urls import UnsafeURL, check_outbound_url

logger = logging.getLogger(__name__)


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


class _Retryable(Exception):
    pass


@retry(retry=retry_if_exception(lambda e: isinstance(e, _Retryable)), stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=4))
def _post(url: str, payload: dict) -> int:
    try:
        response = httpx.post(url, json=payload, timeout=15.0, follow_redirects=False)
    except httpx.TransportError as exc:
        raise _Retryable(type(exc).__name__) from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise _Retryable(f"HTTP {response.status_code}")
    return response.status_code


def callback_deliver(*, run: Run) -> str:
    """POST the run to its callback URL; returns and stores a short status ("delivered: 200"...)."""
    try:
        check_outbound_url(run.callback_url)
        code = _post(run.callback_url, run_payload(run))
        status = f"delivered: HTTP {code}" if 200 <= code < 300 else f"refused by receiver: HTTP {code}"
    except UnsafeURL as exc:
        status = f"not delivered: {exc}"
    except RetryError as exc:
        status = f"failed after 3 attempts: {exc.last_attempt.exception()}"
    Run.objects.filter(pk=run.pk).update(callback_status=status[:200])
    logger.info("run %s callback %s", run.pk, status)
    return status
