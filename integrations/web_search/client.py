"""Web search through the Brave Search API (``GET {base_url}web/search``, header
``X-Subscription-Token``), behind the tenant's ``web_search`` connector credential.

The single seam tests replace: ``base_url`` in the credential's config points at a local fake.
Transient failures (HTTP 429/5xx, timeouts) are retried three times with exponential backoff.
The base URL passes the outbound SSRF guard (:func:`integrations.outbound.outbound_check` with the
tenant's ``actions.outbound_allowlist``) before any request.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from integrations.outbound import outbound_allowlist_get, outbound_check
from integrations.models import ConnectorKind
from integrations.selectors import credential_get

from revops.lib.urls import UnsafeURL

DEFAULT_BASE_URL = "https://api.search.brave.com/res/v1/"
TIMEOUT_SECONDS = 10.0


class WebSearchUnavailable(Exception):
    """No web search is configured for the tenant, or the provider could not be reached."""


@dataclass(frozen=True)
class SearchHit:
    """One web result: title, url, snippet (provider text, treated as data)."""

    title: str
    url: str
    snippet: str


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code == 429 or exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def search_client(*, base_url: str, api_key: str, timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """An ``httpx.Client`` for the Brave Search API at ``base_url`` (requests go to
    ``web/search``), authenticated with ``api_key`` (``X-Subscription-Token``), ``timeout`` in
    seconds, redirects not followed. The caller checks ``base_url`` with the outbound guard and
    closes the client (use it as a context manager)."""
    headers = {"Accept": "application/json", "X-Subscription-Token": api_key}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False)


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
def _get(client: httpx.Client, params: dict) -> dict:
    response = client.get("web/search", params=params)
    response.raise_for_status()
    return response.json()


def web_search(*, query: str, count: int = 5) -> list[SearchHit]:
    """Search the web for ``query`` with the current tenant's provider; ``count`` results (max 20).

    Raises WebSearchUnavailable when no credential is configured, the base URL is refused by the
    outbound guard, or the provider fails (the message never contains the API key).
    """
    cred = credential_get(kind=ConnectorKind.WEB_SEARCH)
    if cred is None:
        raise WebSearchUnavailable("web search is not configured for this tenant (no web_search connector)")
    api_key = cred.secrets().get("api_key", "")
    base_url = cred.config.get("base_url", DEFAULT_BASE_URL)
    try:
        outbound_check(base_url, allowlist=outbound_allowlist_get(tenant=cred.tenant))
    except UnsafeURL as exc:
        raise WebSearchUnavailable(f"web search URL refused: {exc}") from None
    try:
        with search_client(base_url=base_url, api_key=api_key) as client:
            data = _get(client, {"q": query, "count": max(1, min(count, 20))})
    except (httpx.HTTPError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise WebSearchUnavailable(f"web search failed ({status or type(exc).__name__})") from exc
    results = (data.get("web") or {}).get("results") or []
    return [SearchHit(str(r.get("title", "")), str(r.get("url", "")), str(r.get("description", ""))) for r in results[:count]]
