"""Reads for the tenant's Salesforce connection (scoped to the tenant in context)."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorKind
from integrations.salesforce.client import DEFAULT_API_VERSION
from integrations.selectors import credential_get


class SalesforceNotConfigured(Exception):
    """The tenant has no usable ``salesforce`` credential; the message says what is missing."""


@dataclass(frozen=True)
class SalesforceConnection:
    """``instance_url`` and ``api_version`` from the credential's config; ``access_token`` (an
    OAuth access token / session id) from its encrypted secrets, kept out of ``repr``."""

    instance_url: str
    api_version: str = DEFAULT_API_VERSION
    access_token: str = field(default="", repr=False)


def salesforce_connection_get() -> SalesforceConnection:
    """The current tenant's Salesforce connection.

    Credential ``salesforce``: ``config`` ``{"instance_url": "https://…", "api_version": "59.0"}``,
    ``secrets`` ``{"access_token": "…"}``.

    Raises:
        SalesforceNotConfigured: no credential, no instance URL, no token, or undecryptable secrets.
        tenants.context.TenantNotSet: no tenant in context.
    """
    credential = credential_get(kind=ConnectorKind.SALESFORCE)
    if credential is None:
        raise SalesforceNotConfigured("no Salesforce connector is configured for this tenant")
    config = credential.config or {}
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        raise SalesforceNotConfigured("the Salesforce connector's secrets cannot be decrypted") from None
    instance_url = str(config.get("instance_url") or "")
    token = str(secrets.get("access_token") or "")
    if not instance_url:
        raise SalesforceNotConfigured("the Salesforce connector is missing config key 'instance_url'")
    if not token:
        raise SalesforceNotConfigured("the Salesforce connector has no access_token")
    return SalesforceConnection(instance_url=instance_url, api_version=str(config.get("api_version") or DEFAULT_API_VERSION), access_token=token)
