"""django-q2 tasks: thin wrappers that load rows by id and call one service (DESIGN.md §3.6)."""

from __future__ import annotations

import logging

from agents.services import run_claim, run_execute, run_reap_stale
from revops.logs import log_context
from tenants.context import tenant_context

logger = logging.getLogger(__name__)


def execute_run(run_id: int) -> str:
    """Claim and answer run ``run_id``; a duplicate delivery finds it claimed and does nothing."""
    run = run_claim(run_id=run_id)  # the claim loads the run and its tenant
    if run is None:
        return "skipped: already claimed or finished"
    with tenant_context(run.tenant), log_context(run_id=run.pk):  # log lines carry tenant and run id
        run_execute(run=run)
    return run.status


def reap_stale_runs() -> dict[str, int]:
    """Scheduled every minute: requeue or fail runs whose worker died."""
    return run_reap_stale()
