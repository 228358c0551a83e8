"""OAuth 2.0 for the Salesforce sync: the refresh-token flow and the JWT bearer flow.

Both post to ``<login_url>/services/oauth2/token`` (Salesforce Help, "OAuth 2.0 Refresh Token
Flow for Renewed Sessions" and "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration")
and get back ``{"access_token", "instance_url", ...}``. The access token is kept in the
credential's encrypted secrets so the next run reuses it until Salesforce answers 401
``INVALID_SESSION_ID``; then the sync asks for a new one once.

Credential ``salesforce`` (config / secrets)::

    config:  {"instance_url": "https://acme.my.salesforce.com", "api_version": "59.0",
              "login_url": "https://login.salesforce.com", "client_id": "3MVG9...",
              "username": "integration@acme.com"}            # username: JWT bearer only
    secrets: {"refresh_token": "...", "client_secret": "..."}  # refresh-token flow
             {"private_key": "-----BEGIN PRIVATE KEY-----..."} # JWT bearer flow (RS256)
             {"access_token": "..."}                           # cached / a fixed session

No secret is ever logged or put in an exception message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.salesforce.client import DEFAULT_API_VERSION, SALESFORCE_TIMEOUT_SECONDS
from integrations.services import credential_set

DEFAULT_LOGIN_URL = "https://login.salesforce.com"
JWT_LIFETIME_SECONDS = 180  # Salesforce accepts an assertion whose exp is at most 3 minutes ahead


class SalesforceAuthError(Exception):
    """The credential is incomplete or Salesforce refused it; the message is safe to show."""


@dataclass(frozen=True)
class SalesforceOAuth:
    """What one tenant's ``salesforce`` credential says (secrets kept out of ``repr``).

    ``flow`` is ``"refresh_token"``, ``"jwt_bearer"`` or ``"access_token"`` (a fixed session id
    that cannot be renewed).
    """

    credential_id: int
    instance_url: str
    api_version: str
    login_url: str
    flow: str
    client_id: str = ""
    username: str = ""
    access_token: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    client_secret: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)


def salesforce_oauth_get(*, tenant) -> SalesforceOAuth:
    """The OAuth settings of ``tenant``'s ``salesforce`` credential (named ``default`` or the
    first one).

    Raises:
        SalesforceAuthError: no credential, undecryptable secrets, or an incomplete credential
            (see :func:`salesforce_oauth_from`).
    """
    qs = ConnectorCredential.objects.for_tenant(tenant).filter(kind=ConnectorKind.SALESFORCE)
    credential = qs.filter(name="default").first() or qs.order_by("pk").first()
    if credential is None:
        raise SalesforceAuthError("no Salesforce connector is configured for this tenant")
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        raise SalesforceAuthError("the Salesforce connector's secrets cannot be decrypted") from None
    return salesforce_oauth_from(credential_id=credential.pk, config=credential.config or {}, secrets=secrets)


def salesforce_oauth_from(*, credential_id: int, config: dict, secrets: dict) -> SalesforceOAuth:
    """The OAuth settings in one ``salesforce`` credential's ``config`` and decrypted ``secrets``.

    The flow is the first the credential supports: a ``refresh_token`` secret with a
    ``client_id``; a ``private_key`` secret with ``client_id`` and ``username`` (JWT bearer); an
    ``access_token`` secret (a fixed session, which needs ``instance_url``).

    Raises:
        SalesforceAuthError: none of those is complete (the message names what is missing).
    """
    client_id = str(config.get("client_id") or "")
    username = str(config.get("username") or "")
    if secrets.get("refresh_token") and client_id:
        flow = "refresh_token"
    elif secrets.get("private_key") and client_id and username:
        flow = "jwt_bearer"
    elif secrets.get("access_token"):
        flow = "access_token"
    else:
        raise SalesforceAuthError(
            "the Salesforce connector needs a refresh_token secret and a client_id, a private_key secret "
            "with client_id and username (JWT bearer), or an access_token secret"
        )
    instance_url = str(config.get("instance_url") or "")
    if not instance_url and flow == "access_token":
        raise SalesforceAuthError("the Salesforce connector is missing config key 'instance_url'")
    return SalesforceOAuth(
        credential_id=credential_id,
        instance_url=instance_url,
        api_version=str(config.get("api_version") or DEFAULT_API_VERSION),
        login_url=str(config.get("login_url") or DEFAULT_LOGIN_URL).rstrip("/"),
        flow=flow,
        client_id=client_id,
        username=username,
        access_token=str(secrets.get("access_token") or ""),
        refresh_token=str(secrets.get("refresh_token") or ""),
        client_secret=str(secrets.get("client_secret") or ""),
        private_key=str(secrets.get("private_key") or ""),
    )


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = getattr(settings, "SALESFORCE_CA_BUNDLE", None) or True
    return session


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def salesforce_token_request(oauth: SalesforceOAuth) -> tuple[str, str]:
    """Ask Salesforce for a new access token by ``oauth.flow``.

    Returns:
        ``(access_token, instance_url)``; ``instance_url`` falls back to the configured one.

    Raises:
        SalesforceAuthError: the flow cannot renew (a fixed access token), the login host is
            unreachable or slow (15 s), or Salesforce refused the grant (its ``error`` code and
            description are quoted; they hold no secret).
    """
    if oauth.flow == "refresh_token":
        data: dict[str, Any] = {
            "grant_type": "refresh_token",
            "refresh_token": oauth.refresh_token,
            "client_id": oauth.client_id,
        }
        if oauth.client_secret:
            data["client_secret"] = oauth.client_secret
    elif oauth.flow == "jwt_bearer":
        audience = "https://test.salesforce.com" if "test.salesforce.com" in oauth.login_url else (
            "https://login.salesforce.com" if "salesforce.com" in oauth.login_url else oauth.login_url
        )
        claims = {"iss": oauth.client_id, "sub": oauth.username, "aud": audience, "exp": int(time.time()) + JWT_LIFETIME_SECONDS}
        try:
            assertion = jwt.encode(claims, oauth.private_key, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise SalesforceAuthError("the Salesforce connector's private_key is not a usable RSA private key (PEM)") from None
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    else:
        raise SalesforceAuthError(
            "Salesforce rejected the access token (INVALID_SESSION_ID) and the connector has no refresh "
            "token or JWT key to get a new one"
        )
    url = f"{oauth.login_url}/services/oauth2/token"
    try:
        response = _session().post(url, data=data, timeout=SALESFORCE_TIMEOUT_SECONDS, allow_redirects=False)
    except requests.Timeout:
        raise SalesforceAuthError(f"the Salesforce login host {_host(url)} did not answer within {SALESFORCE_TIMEOUT_SECONDS} s") from None
    except requests.RequestException as exc:
        raise SalesforceAuthError(f"cannot reach the Salesforce login host {_host(url)} ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        if isinstance(body, dict) and body.get("error"):
            detail = f"{body.get('error')}: {str(body.get('error_description') or '')[:200]}".rstrip(": ")
        elif body is None:
            detail = "the answer is not JSON"
        else:
            detail = "no access_token in the answer"
        raise SalesforceAuthError(f"Salesforce refused the connector's credentials (HTTP {response.status_code}, {detail})")
    return str(body["access_token"]), str(body.get("instance_url") or oauth.instance_url)


def salesforce_token_store(*, tenant, oauth: SalesforceOAuth, access_token: str, instance_url: str) -> SalesforceOAuth:
    """Keep a renewed ``access_token`` (and ``instance_url``) in the credential, encrypted, and
    return the updated settings. Other config and secrets are kept as they were."""
    credential = ConnectorCredential.objects.for_tenant(tenant).get(pk=oauth.credential_id)
    secrets = {**credential.secrets(), "access_token": access_token}
    config = {**(credential.config or {}), "instance_url": instance_url}
    credential_set(tenant=tenant, kind=credential.kind, name=credential.name, config=config, secrets=secrets)
    return SalesforceOAuth(**{**oauth.__dict__, "access_token": access_token, "instance_url": instance_url})
