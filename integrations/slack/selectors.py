"""Reads for the tenant's Slack app (scoped to the tenant in context)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorKind
from integrations.rotation import previous_secrets
from integrations.selectors import credential_get

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SlackApp:
    """The tenant's Slack app: ``team_id``/``bot_user_id`` from the credential's config, the
    ``signing_secret`` and ``bot_token`` (``xoxb-…``) from its encrypted secrets. Secrets are
    kept out of ``repr``."""

    team_id: str = ""
    bot_user_id: str = ""
    signing_secret: str = field(default="", repr=False)
    bot_token: str = field(default="", repr=False)
    previous_signing_secret: str = field(default="", repr=False)  # rotation window (integrations.rotation)
    previous_valid_until: datetime | None = None

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The signing secrets a request may be signed with now: the current one, and the one it
        replaced while the rotation window is open (``now`` before ``previous_valid_until``)."""
        valid = self.previous_valid_until is not None and (now or timezone.now()) < self.previous_valid_until
        extra = [self.previous_signing_secret] if valid and self.previous_signing_secret not in ("", self.signing_secret) else []
        return [self.signing_secret, *extra]


def slack_app_get() -> SlackApp | None:
    """The current tenant's Slack app, or None when it has no usable ``slack`` credential.

    "Usable" means the secrets decrypt and hold a non-empty ``signing_secret``; a missing
    ``bot_token`` is allowed here (events can be received) and reported when posting.
    Raises ``tenants.context.TenantNotSet`` without a tenant in context.
    """
    credential = credential_get(kind=ConnectorKind.SLACK)
    if credential is None:
        return None
    return slack_app_from_credential(credential)


def slack_app_from_credential(credential) -> SlackApp | None:
    """The :class:`SlackApp` held by one ``slack`` ``ConnectorCredential`` row, or None when its
    secrets do not decrypt or lack a ``signing_secret`` (logged with the row id, never a secret)."""
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        logger.error("slack credential %s cannot be decrypted", credential.pk)
        return None
    signing_secret = str(secrets.get("signing_secret") or "").strip()
    if not signing_secret:
        logger.error("slack credential %s has no signing secret", credential.pk)
        return None
    config = credential.config or {}
    previous = previous_secrets(credential)
    return SlackApp(
        team_id=str(config.get("team_id") or ""),
        bot_user_id=str(config.get("bot_user_id") or ""),
        signing_secret=signing_secret,
        bot_token=str(secrets.get("bot_token") or "").strip(),
        previous_signing_secret=str(previous.get("signing_secret") or "").strip(),
        previous_valid_until=credential.previous_valid_until if previous else None,
    )
