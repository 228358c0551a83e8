"""Actions the execution agent proposes (notify, webhook, CRM update, warehouse write).

First cut: actions are recorded as *proposed* with a preview; handlers, approval and delivery
come with the actions issue. Nothing here touches the outside world yet.
"""

from __future__ import annotations

from django.db import models

from tenants.models import TenantOwnedModel


class ActionKind(models.TextChoices):
    WEBHOOK = "webhook", "Webhook"
    SLACK_NOTIFY = "slack_notify", "Slack notification"
    CRM_UPDATE = "crm_update", "CRM update"
    WAREHOUSE_WRITE = "warehouse_write", "Warehouse write"


class ActionStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    DEAD = "dead", "Dead"


class Action(TenantOwnedModel):
    """An action proposed by a run. ``payload`` is the kind's typed payload, ``preview`` the text
    shown to a human before approval."""

    run = models.ForeignKey("agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    target = models.CharField(max_length=255, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    preview = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PROPOSED)
    idempotency_key = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="uniq_action_idem")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.target} ({self.status})"
