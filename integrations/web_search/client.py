"""Web search through the Brave Search API (``GET {base_url}web/search``, header
``X-Subscription-Token``), behind the tenant's ``web_search`` connector credential.

The single seam tests replace: ``base_url`` in the credential's config points at a local fake.
Transient failures (HTTP 429/5xx, timeouts) are retried three times with exponential backoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from integrations.models import ConnectorKind
from integrations.selectors import credential_get

DEFAULT_BASE_URL = "https://api.search.brave.com/res/v1/"


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


@retry(retry=retry_if_exception(_transient), stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.2, max=2), reraise=True)
def _get(client: httpx.Client, params: dict) -> dict:
    response = client.get("web/search", params=params)
    response.raise_for_status()
    return response.json()


def web_search(*, query: str, count: int = 5) -> list[SearchHit]:
    """Search the web for ``query`` with the current tenant's provider; ``count`` results (max 20).

    Raises WebSearchUnavailable when no credential is configured or the provider fails (the
    message never contains the API key).
    """
    cred = credential_get(kind=ConnectorKind.WEB_SEARCH)
    if cred is None:
        raise WebSearchUnavailable("web search is not configured for this tenant (no web_search connector)")
    api_key = cred.secrets().get("api_key", "")
    base_url = cred.config.get("base_url", DEFAULT_BASE_URL)
    headers = {"Accept": "application/json", "X-Subscription-Token": api_key}
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=10.0, follow_redirects=False) as client:
            data = _get(client, {"q": query, "count": max(1, min(count, 20))})
    except (httpx.HTTPError, ValueError) as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise WebSearchUnavailable(f"web search failed ({status or type(exc).__name__})") from exc
    results = (data.get("web") or {}).get("results") or []
    return [SearchHit(str(r.get("title", "")), str(r.get("url", "")), str(r.get("description", ""))) for r in results[:count]]
