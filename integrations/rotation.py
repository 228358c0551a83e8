"""Rotating a connector's secrets without downtime.

A rotation keeps the secrets it replaces as the credential's *previous* set
(``previous_secret_token``, encrypted like ``secret_token``) until ``previous_valid_until``. Where
the other side may use either secret for a while, our side accepts both during that window:

- **Slack signing secret** (inbound ``v0`` signatures): Slack signs with the secret shown in the
  app's settings, and there is a gap between regenerating it there and storing it here; requests
  signed with the new or the previous secret verify until the window ends, then only the new one
  (:meth:`integrations.slack.selectors.SlackApp.signing_secrets`).
- **Outbound webhook signing secrets** are not connector credentials: they rotate with
  ``manage.py signing_secret --rotate`` (:func:`actions.signing.signing_secret_rotate`), which
  signs with every active secret (Standard Webhooks' space-separated signatures) until the old
  one expires.
- **API keys and tokens we send** (web search, Salesforce, Slack bot token): the new value is
  used at once; the previous one is only kept for the window (and masked in errors). Rotate at
  the provider first (both keys valid there), then here.

Storing a new secret without ``--rotate`` (a replacement, e.g. after a leak) ends any window at
once (:func:`credential_previous_clear`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.crypto import SecretDecryptError, decrypt_json
from integrations.models import ConnectorCredential
from integrations.services import credential_save
from tenants.models import Tenant

DEFAULT_GRACE = timedelta(minutes=60)
MAX_GRACE = timedelta(days=7)


class RotationError(Exception):
    """A rotation was refused (nothing stored to rotate, no new secret, a window out of range)."""


def previous_secrets(credential: ConnectorCredential, *, now: datetime | None = None) -> dict[str, Any]:
    """The secrets replaced by the last rotation while its window is open (``now`` before
    ``previous_valid_until``), else ``{}``; also ``{}`` when they cannot be decrypted."""
    until = credential.previous_valid_until
    if not credential.previous_secret_token or until is None or (now or timezone.now()) >= until:
        return {}
    try:
        return decrypt_json(credential.previous_secret_token)
    except SecretDecryptError:
        return {}


def credential_rotate(
    *,
    tenant: Tenant,
    kind: str,
    name: str,
    config: dict[str, Any],
    secret_updates: Mapping[str, str | None],
    grace: timedelta = DEFAULT_GRACE,
) -> ConnectorCredential:
    """Store new secrets on ``tenant``'s existing ``(kind, name)`` credential and keep the current
    ones as the previous set, valid for ``grace`` (0 to 7 days) from now.

    ``config`` and ``secret_updates`` as in :func:`integrations.services.credential_save` (the
    config replaces the stored one; named secrets are replaced, others kept). A second rotation
    within a window replaces the previous set by the secrets current at that moment.

    Raises:
        RotationError: no such credential, no new secret value in ``secret_updates``, or
            ``grace`` outside 0-7 days.
        integrations.crypto.SecretDecryptError: the stored secrets cannot be decrypted.
    """
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise RotationError("the grace period must be between 0 minutes and 7 days")
    if not any(v for v in secret_updates.values()):
        raise RotationError("a rotation needs at least one new secret value")
    rows = ConnectorCredential.objects.for_tenant(tenant)
    with transaction.atomic():
        row = rows.select_for_update().filter(kind=kind, name=name).first()
        if row is None or not row.secret_token:
            raise RotationError(f"there is no {kind} connector {name!r} with secrets to rotate; create it first")
        row.secrets()  # raises SecretDecryptError before anything is written
        rows.filter(pk=row.pk).update(previous_secret_token=row.secret_token, previous_valid_until=timezone.now() + grace)
        return credential_save(tenant=tenant, kind=kind, name=name, config=config, secret_updates=secret_updates, credential_id=row.pk)


def credential_previous_clear(*, tenant: Tenant, credential_id: int) -> None:
    """End ``tenant``'s credential's rotation window now: only the current secrets are valid."""
    ConnectorCredential.objects.for_tenant(tenant).filter(pk=credential_id).exclude(previous_secret_token="").update(
        previous_secret_token="", previous_valid_until=None, updated_at=timezone.now()  # updated_at: the Slack secret cache key
    )
