"""django-q2 task of the Slack events endpoint: everything that need not happen before Slack's 200.

The endpoint (``integrations.slack.views.slack_events``) verifies, dedupes and enqueues
:func:`slack_question_process`; this task does the rest on the worker: loads the tenant, checks
membership, records the run and executes it in the same task (no second trip through the queue),
which posts the "Working on it…" acknowledgement first and the answer last.
"""

from __future__ import annotations

import logging

from agents.tasks import execute_run
from integrations.slack.services import SlackQuestion, slack_question_run_create
from tenants.context import tenant_context
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def slack_question_process(tenant_id: int, question: dict) -> str:
    """Answer one accepted Slack question of tenant ``tenant_id``.

    ``question``: the fields of :class:`integrations.slack.services.SlackQuestion` (as enqueued).
    Returns the run's final status, ``"skipped: …"`` when another worker claimed the run, or
    ``"ignored: <reason>"`` (tenant gone, asker not a member under ``members_only``, question
    refused by ``run_create``). Never raises for those.
    """
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return "ignored: no such tenant"
    parsed = SlackQuestion(**question)
    with tenant_context(tenant):
        run = slack_question_run_create(tenant=tenant, question=parsed)
    if isinstance(run, str):
        logger.info("slack event %s for tenant %s: %s", parsed.event_id[:64], tenant.slug, run)
        return run
    return execute_run(run.pk)
