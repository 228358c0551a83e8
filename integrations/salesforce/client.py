"""The one seam to Salesforce's REST API: every call builds its client here (``simple-salesforce``).

simple-salesforce always speaks ``https://<instance>``; tests run a local HTTPS fake on
127.0.0.1 with a self-signed certificate and point ``settings.SALESFORCE_CA_BUNDLE`` at it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from simple_salesforce import Salesforce

SALESFORCE_TIMEOUT_SECONDS = 15
DEFAULT_API_VERSION = "59.0"


class _BoundedSession(requests.Session):
    """A session that never waits forever and never follows redirects (simple-salesforce
    passes neither option on its own)."""

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", SALESFORCE_TIMEOUT_SECONDS)
        kwargs.setdefault("allow_redirects", False)
        return super().request(method, url, *args, **kwargs)


def salesforce_client(*, instance_url: str, access_token: str, api_version: str = DEFAULT_API_VERSION) -> Salesforce:
    """A ``simple_salesforce.Salesforce`` for an OAuth access token (session id).

    Args:
        instance_url: ``https://<my-domain>.my.salesforce.com`` (host and port are used; the
            scheme is always https).
        access_token: the OAuth access token; never logged.
        api_version: REST API version, e.g. ``"59.0"``.

    Timeout 15 s per call; redirects not followed; TLS verified against
    ``settings.SALESFORCE_CA_BUNDLE`` when set, else the default CA bundle. Calls raise
    ``simple_salesforce.exceptions.SalesforceError`` subclasses for error statuses and
    ``requests.RequestException`` for network failures.
    """
    parts = urlsplit(instance_url)
    session = _BoundedSession()
    session.trust_env = False  # no proxy or CA bundle from the environment
    ca_bundle = getattr(settings, "SALESFORCE_CA_BUNDLE", None)
    session.verify = ca_bundle or True
    return Salesforce(
        instance_url=f"https://{parts.netloc}",
        session_id=access_token,
        version=api_version,
        session=session,
    )
