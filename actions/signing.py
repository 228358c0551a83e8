"""Webhook endpoints and their signing secrets (Standard Webhooks ``whsec_`` secrets).

Below both :mod:`actions.services` (registers endpoints, rotates secrets) and the webhook
handler (:mod:`actions.handlers.webhook`: ensures the run-callback secret, disables an
endpoint that answered 410), so neither imports the other. Secrets are stored encrypted
(:func:`integrations.crypto.encrypt_json`) and shown to the caller once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from actions.models import SigningSecret, WebhookEndpoint
from actions.selectors import signing_secrets_active
from integrations.crypto import encrypt_json
from integrations.outbound import secret_generate
from revops.lib.urls import check_outbound_url
from tenants.models import Tenant

logger = logging.getLogger(__name__)


def _secret_row(*, tenant: Tenant, endpoint: WebhookEndpoint | None) -> tuple[SigningSecret, str]:
    value = secret_generate()
    row = SigningSecret.objects.for_tenant(tenant).create(tenant=tenant, endpoint=endpoint, secret_token=encrypt_json({"secret": value}))
    return row, value


def webhook_endpoint_create(*, tenant: Tenant, url: str, description: str = "", enabled: bool = True) -> tuple[WebhookEndpoint, str]:
    """Register a webhook endpoint with a new ``whsec_`` secret; returns ``(endpoint, secret)``.
    The secret is shown to the caller once (stored encrypted).

    Raises:
        revops.lib.urls.UnsafeURL: the URL is not https (or http loopback in development) or carries
            credentials; its address is checked again at every delivery.
    """
    check_outbound_url(url, resolve=False)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.for_tenant(tenant).create(tenant=tenant, url=url, description=description[:255], enabled=enabled)
        _, secret = _secret_row(tenant=tenant, endpoint=endpoint)
    return endpoint, secret


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable ``endpoint`` (new webhook actions to it are refused; queued ones fail)."""
    WebhookEndpoint.objects.for_tenant(endpoint.tenant_id).filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason=reason[:255], updated_at=timezone.now()
    )
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


def signing_secret_rotate(*, tenant: Tenant, endpoint: WebhookEndpoint | None = None, grace: timedelta = timedelta(hours=24)) -> str:
    """Add a new secret for ``endpoint`` (None: the tenant's run callbacks) and let the active
    ones expire after ``grace``; until then deliveries carry one signature per secret, so the
    receiver can switch at its own pace. Returns the new ``whsec_`` secret (shown once)."""
    now = timezone.now()
    with transaction.atomic():
        SigningSecret.objects.for_tenant(tenant).filter(endpoint=endpoint).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now + grace)
        ).update(expires_at=now + grace)
        _, secret = _secret_row(tenant=tenant, endpoint=endpoint)
    return secret


def callback_secrets_ensure(*, tenant: Tenant) -> list[str]:
    """The active secrets signing ``tenant``'s run callbacks; creates the first one when there is
    none (the tenant reads it in the admin). Concurrent callers create one secret in total (the
    tenant row is locked)."""
    secrets = signing_secrets_active(tenant=tenant, endpoint=None)
    if secrets:
        return secrets
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        secrets = signing_secrets_active(tenant=tenant, endpoint=None)
        if not secrets:
            _, value = _secret_row(tenant=tenant, endpoint=None)
            secrets = [value]
    return secrets
