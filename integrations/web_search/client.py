"""Web search behind the tenant's ``web_search`` connector credential: the one entry point
(:func:`web_search`) and its providers.

The credential's config chooses the provider (``provider``: ``brave``, the default, or
``tavily``):

- **Brave Search API** (``GET {base_url}web/search?q=&count=``, header ``X-Subscription-Token``;
  https://api-dashboard.search.brave.com/app/documentation/web-search/get-started): hits from
  ``web.results[]`` (``title``, ``url``, ``description``, ``page_age``);
- **Tavily** (``POST {base_url}search``, bearer key): :mod:`integrations.web_search.tavily`.

The single seam tests replace: ``base_url`` in the credential's config points at a local fake.
The base URL passes the outbound SSRF guard (:func:`integrations.outbound.outbound_check` with the
tenant's ``actions.outbound_allowlist``) before any request. Retries, timeouts and error texts:
:mod:`integrations.web_search.base`. Every call's outcome is recorded on the credential
(:func:`integrations.health.connector_record`).
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.health import connector_record
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.outbound import outbound_allowlist_get, outbound_check
from integrations.selectors import credential_get
from integrations.web_search.base import TIMEOUT_SECONDS, SearchHit, WebSearchUnavailable, iso_date, request_json, web_url
from integrations.web_search.tavily import DEFAULT_TAVILY_URL, tavily_client, tavily_search
from revops.lib.urls import UnsafeURL

__all__ = ["DEFAULT_BASE_URL", "PROVIDERS", "TIMEOUT_SECONDS", "SearchHit", "WebSearchUnavailable", "search_client", "web_search", "web_search_with"]

DEFAULT_BASE_URL = "https://api.search.brave.com/res/v1/"
PROVIDERS = {"brave": DEFAULT_BASE_URL, "tavily": DEFAULT_TAVILY_URL}  # provider -> default base URL


def search_client(*, base_url: str, api_key: str, timeout: float = TIMEOUT_SECONDS) -> httpx.Client:
    """An ``httpx.Client`` for the Brave Search API at ``base_url`` (requests go to
    ``web/search``), authenticated with ``api_key`` (``X-Subscription-Token``), ``timeout`` in
    seconds, redirects not followed. The caller checks ``base_url`` with the outbound guard and
    closes the client (use it as a context manager)."""
    headers = {"Accept": "application/json", "X-Subscription-Token": api_key}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False)


def _brave_search(client: httpx.Client, *, query: str, count: int, timeout: float) -> list[SearchHit]:
    data = request_json(lambda: client.get("web/search", params={"q": query, "count": count}), provider="Brave Search", timeout=timeout)
    if not isinstance(data, dict):
        raise WebSearchUnavailable("web search failed: Brave Search answered without a results list")
    results = (data.get("web") or {}).get("results") if isinstance(data.get("web") or {}, dict) else None
    if not isinstance(results or [], list):
        raise WebSearchUnavailable("web search failed: Brave Search answered without a results list")
    hits = []
    for item in results or []:
        url = web_url(item.get("url")) if isinstance(item, dict) else ""
        if url:
            hits.append(SearchHit(str(item.get("title") or url), url, str(item.get("description") or ""), iso_date(item.get("page_age"))))
    return hits[:count]


def _search(config: dict[str, Any], *, api_key: str, query: str, count: int, base_url: str) -> list[SearchHit]:
    timeout = float(config.get("timeout_seconds") or TIMEOUT_SECONDS)
    if config.get("provider") == "tavily":
        with tavily_client(base_url=base_url, api_key=api_key, timeout=timeout) as client:
            return tavily_search(
                client, query=query, count=count, timeout=timeout,
                search_depth=str(config.get("search_depth") or "basic"), topic=str(config.get("topic") or "general"),
            )
    with search_client(base_url=base_url, api_key=api_key, timeout=timeout) as client:
        return _brave_search(client, query=query, count=count, timeout=timeout)


def web_search(*, query: str, count: int = 5) -> list[SearchHit]:
    """Search the web for ``query`` with the current tenant's provider; up to ``count`` hits (1-20),
    each with its URL and, when the provider gives one, its publication date.

    Raises WebSearchUnavailable when no credential is configured, the provider is unknown, the
    base URL is refused by the outbound guard, or the provider fails (401, 429, timeout, malformed
    answer...: the message says which and never contains the API key). Provider failures and
    successes are recorded on the credential; a missing credential or a refused URL is not a
    provider failure and is not recorded.
    """
    cred = credential_get(kind=ConnectorKind.WEB_SEARCH)
    if cred is None:
        raise WebSearchUnavailable("web search is not configured for this tenant (no web_search connector)")
    return web_search_with(cred, query=query, count=count)


def web_search_with(cred: ConnectorCredential, *, query: str, count: int = 5) -> list[SearchHit]:
    """:func:`web_search` with the given ``web_search`` credential (any tenant: the row is given;
    the connector's "Test connection" uses it). Same hits, errors and health recording."""
    config = cred.config or {}
    provider = str(config.get("provider") or "brave")
    if provider not in PROVIDERS:
        raise WebSearchUnavailable(f"web search provider {provider!r} is not supported (one of: {', '.join(PROVIDERS)})")
    api_key = str(cred.secrets().get("api_key") or "")
    base_url = str(config.get("base_url") or PROVIDERS[provider])
    try:
        outbound_check(base_url, allowlist=outbound_allowlist_get(tenant=cred.tenant))
    except UnsafeURL as exc:
        raise WebSearchUnavailable(f"web search URL refused: {exc}") from None
    try:
        hits = _search(config, api_key=api_key, query=query, count=max(1, min(count, 20)), base_url=base_url)
    except WebSearchUnavailable as exc:
        connector_record(cred, ok=False, error=str(exc))
        raise
    connector_record(cred, ok=True)
    return hits
