"""Connector credentials: one row per external system a tenant connects (warehouse, Slack, ...)."""

from __future__ import annotations

from django.db import models

from integrations.crypto import decrypt_json
from tenants.models import TenantOwnedModel


class ConnectorKind(models.TextChoices):
    WAREHOUSE_POSTGRES = "warehouse_postgres", "Warehouse (PostgreSQL)"
    WAREHOUSE_DUCKDB = "warehouse_duckdb", "Warehouse (DuckDB, embedded)"
    WAREHOUSE_FIREBOLT = "warehouse_firebolt", "Warehouse (Firebolt)"
    SLACK = "slack", "Slack app"
    WEB_SEARCH = "web_search", "Web search"
    SALESFORCE = "salesforce", "Salesforce"
    GONG = "gong", "Gong"
    LLM = "llm", "LLM provider"


class ConnectorCredential(TenantOwnedModel):
    """A tenant's connection to an external system.

    ``config`` holds non-secret settings (host, schema, team id...). ``secret_token`` holds the
    secret part (passwords, tokens, signing secrets) as a Fernet token; read it with
    :meth:`secrets` and write it with ``integrations.services.credential_set``. Neither the
    token nor the decrypted values appear in ``__str__``, admin, logs, API output or run traces.
    """

    kind = models.CharField(max_length=32, choices=ConnectorKind.choices)
    name = models.CharField(max_length=100, default="default")
    config = models.JSONField(default=dict, blank=True)
    secret_token = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Credential lifecycle (integrations.rotation, integrations.health): the secrets replaced by the
    # last rotation, accepted until previous_valid_until; and the outcome of the last calls.
    previous_secret_token = models.TextField(blank=True, default="", editable=False)
    previous_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)  # redacted: no secret value
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "kind", "name"], name="uniq_credential")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name}"

    def __repr__(self) -> str:
        return f"<ConnectorCredential {self.pk} {self.kind}/{self.name}>"

    def secrets(self) -> dict:
        """Decrypted secret config (dict). Raises ``integrations.crypto.SecretDecryptError``."""
        return decrypt_json(self.secret_token)


class SlackEvent(TenantOwnedModel):
    """A Slack Events API delivery we acted on: the dedupe record (DESIGN.md §5).

    Slack retries a delivery (``X-Slack-Retry-Num``) when it gets no 2xx within 3 seconds, and may
    deliver the same ``event_id`` twice. The unique ``(tenant, event_id)`` constraint, not a
    read-then-write check, is what guarantees one run per event under concurrent retries.
    """

    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "event_id"], name="uniq_slack_event")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class SyncSource(models.TextChoices):
    SALESFORCE = "salesforce", "Salesforce"
    GONG = "gong", "Gong"


class SyncStatus(models.TextChoices):
    NEVER = "never", "Never run"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SyncState(TenantOwnedModel):
    """Progress of one incremental sync stream (a Salesforce object, Gong calls) into the
    tenant's warehouse schema: the watermark of the last committed batch and the last run.

    ``watermark`` is the greatest ``SystemModstamp`` (Salesforce) or call start time (Gong) of
    the rows committed so far: it moves in the same database transaction as each batch, so a
    failed run resumes from the last committed batch. ``rows_upserted`` / ``rows_deleted``
    count the last run's inserted-or-changed and deleted rows; ``last_error`` is a message safe
    to show (never a secret). Written by ``integrations.salesforce.sync`` and
    ``integrations.gong.sync`` only.
    """

    source = models.CharField(max_length=16, choices=SyncSource.choices)
    stream = models.CharField(max_length=64)  # Salesforce object API name, or "calls"
    table = models.CharField(max_length=63, blank=True, default="")
    status = models.CharField(max_length=16, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    watermark = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    rows_upserted = models.PositiveIntegerField(default=0)
    rows_deleted = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [models.UniqueConstraint(fields=["tenant", "source", "stream"], name="uniq_sync_state")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} {self.stream}: {self.status}"
