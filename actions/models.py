"""Actions: the execution agent's effects on the outside world, their audit trail, and the
webhook endpoints and signing secrets outbound deliveries use.

Lifecycle of an :class:`Action` (every transition is an :class:`ActionEvent` row)::

    (created) -> proposed --approve--> approved -> queued      (held for a human by the policy)
                 proposed --reject---> rejected                 (terminal)
    (created) -> queued                                         (the policy lets the kind run)
    queued -> running (a worker's claim: conditional UPDATE, one attempt counted)
    running -> succeeded                                        (terminal)
    running -> queued   (retryable failure: ``next_attempt_at`` set with backoff)
    running -> failed   (permanent failure: retrying cannot help, e.g. HTTP 400, 410, SSRF)
    running -> dead     (retryable failure on the last allowed attempt)
    running -> queued / dead (the worker died: its lease ran out; see ``actions_dispatch_due``)
    dead / failed -> queued (an admin's "retry now")

The services in :mod:`actions.services` are the only writers of ``status``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from integrations.crypto import decrypt_json
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
    """One effect (notify, webhook, CRM update, warehouse write), exact and audited.

    - ``payload``: the kind's typed payload, validated by the kind's handler serializer
      (``actions.handlers``) before the row exists; ``target`` and ``preview`` are what a human
      sees before approving.
    - ``idempotency_key``: unique per tenant; creating an action with a key already used returns
      the first action unchanged.
    - ``message_id``: stable for the action's life; outbound webhooks send it as
      ``webhook-id: msg_<hex>`` on every attempt so receivers can drop duplicates.
    - ``attempts`` counts claimed attempts; ``max_attempts`` is fixed at creation
      (``ACTIONS_MAX_ATTEMPTS``). ``next_attempt_at`` is when a queued action becomes due.
    - ``claim_token``/``claimed_until``: the running worker's lease; a worker whose lease ran out
      (killed, stuck) loses the action to the dispatcher and cannot write its outcome.
    - ``result``: the handler's JSON outcome (status code, ids, before/after values).
    - ``requested_via``/``approved_via``: who asked and who approved, as labels
      (``"agent"``, ``"callback"``, ``"slack:U123"``, ``"api-key:ab12cd34"``, ``"policy"``).
    """

    run = models.ForeignKey("agents.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="actions")
    kind = models.CharField(max_length=32, choices=ActionKind.choices)
    target = models.CharField(max_length=255, blank=True, default="")
    payload = models.JSONField(default=dict, blank=True)
    preview = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=ActionStatus.choices, default=ActionStatus.PROPOSED, db_index=True)
    idempotency_key = models.CharField(max_length=128)
    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_via = models.CharField(max_length=64, blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_via = models.CharField(max_length=64, blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_message = models.JSONField(default=dict, blank=True, help_text="Slack approval prompt: {channel, ts}.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "idempotency_key"], name="uniq_action_idem")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="action_due_idx"),
            models.Index(fields=["tenant", "-created_at"], name="action_tenant_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"action {self.pk}: {self.kind} → {self.target} ({self.status})"

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks ``webhook-id`` of this action's deliveries (same on every retry)."""
        return f"msg_{self.message_id.hex}"


class ActionEvent(TenantOwnedModel):
    """One entry of an action's audit trail: a status transition or a failed attempt.

    ``from_status`` is empty for the creation; ``from_status == to_status == "running"`` records
    a failed attempt retried by the same worker. ``actor`` is the user when a person acted;
    ``actor_label`` always says who or what acted (``"policy"``, ``"worker"``, ``"dispatcher"``,
    ``"slack:U123"``, ``"api-key:ab12cd34"``, ``"admin:alice"``). ``attempt`` is the action's
    attempt count at the time.
    """

    action = models.ForeignKey(Action, on_delete=models.CASCADE, related_name="events")
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=64, blank=True, default="")
    attempt = models.PositiveSmallIntegerField(default=0)
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status} by {self.actor_label}"


class WebhookEndpoint(TenantOwnedModel):
    """A receiver the tenant registered for webhook actions.

    Deliveries are signed with the endpoint's active :class:`SigningSecret` rows (Standard
    Webhooks). A receiver answering ``410 Gone`` disables the endpoint (``enabled=False`` with
    ``disabled_reason``); re-enable it in the admin once the receiver is fixed.
    """

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True, default="")
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        pass

    def __str__(self) -> str:
        return self.description or self.url


class SigningSecret(TenantOwnedModel):
    """A ``whsec_`` secret signing a tenant's outbound webhooks (encrypted at rest).

    ``endpoint`` set: the secret of that endpoint; ``endpoint`` null: the secret signing the
    tenant's run callbacks (``callback_url``). During rotation several secrets are active (the
    old one until ``expires_at``) and a delivery carries one ``v1`` signature per active secret.
    """

    endpoint = models.ForeignKey(WebhookEndpoint, null=True, blank=True, on_delete=models.CASCADE, related_name="secrets")
    secret_token = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        scope = f"endpoint {self.endpoint_id}" if self.endpoint_id else "run callbacks"
        return f"signing secret for {scope} (created {self.created_at:%Y-%m-%d})"

    def __repr__(self) -> str:
        return f"<SigningSecret {self.pk} endpoint={self.endpoint_id}>"

    def secret(self) -> str:
        """The decrypted ``whsec_...`` value. Raises ``integrations.crypto.SecretDecryptError``."""
        return str(decrypt_json(self.secret_token).get("secret") or "")
