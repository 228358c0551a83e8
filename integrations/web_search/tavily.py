"""The Tavily Search API (https://docs.tavily.com/documentation/api-reference/endpoint/search),
through httpx (no SDK: one POST).

Request: ``POST {base_url}search`` with ``Authorization: Bearer <api key>`` and the JSON body
``{"query", "max_results" (0-20), "search_depth" ("basic" | "advanced"), "topic" ("general" |
"news")}``. Response: ``{"query", "results": [{"title", "url", "content", "score",
"published_date"}], "response_time"}``; Tavily fills ``published_date`` for the ``news`` topic.
Errors: 401 (missing or invalid key), 429 (rate limit), 432/433 (plan or pay-as-you-go limit),
5xx; the body's ``detail.error`` is not shown (it may echo the request).
"""

from __future__ import annotations

from typing import Any

import httpx

from integrations.web_search.base import SearchHit, WebSearchUnavailable, iso_date, request_json, web_url

DEFAULT_TAVILY_URL = "https://api.tavily.com/"
SEARCH_DEPTHS = ("basic", "advanced")
TOPICS = ("general", "news")
MAX_RESULTS = 20


def tavily_client(*, base_url: str, api_key: str, timeout: float) -> httpx.Client:
    """An ``httpx.Client`` for the Tavily API at ``base_url`` (requests go to ``search``), bearer
    ``api_key``, ``timeout`` in seconds, redirects not followed. The caller checks ``base_url`` with
    the outbound guard and closes the client."""
    headers = {"Accept": "application/json", "Authorization": f"Bearer {api_key}"}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, follow_redirects=False, trust_env=False)


def tavily_search(
    client: httpx.Client, *, query: str, count: int, search_depth: str = "basic", topic: str = "general", timeout: float
) -> list[SearchHit]:
    """Search ``query`` through ``client`` for up to ``count`` hits (1-20). ``search_depth`` and
    ``topic`` as in the module docstring. Hits without an http(s) URL are dropped.

    Raises WebSearchUnavailable (see :func:`integrations.web_search.base.request_json`), also when
    the answer is JSON but not a Tavily search response.
    """
    body = {
        "query": query,
        "max_results": max(1, min(count, MAX_RESULTS)),
        "search_depth": search_depth if search_depth in SEARCH_DEPTHS else "basic",
        "topic": topic if topic in TOPICS else "general",
    }
    data = request_json(lambda: client.post("search", json=body), provider="Tavily", timeout=timeout)
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        raise WebSearchUnavailable("web search failed: Tavily answered without a results list")
    return [hit for hit in (_hit(r) for r in results) if hit is not None][:count]


def _hit(item: Any) -> SearchHit | None:
    if not isinstance(item, dict):
        return None
    url = web_url(item.get("url"))
    if not url:
        return None
    score = item.get("score")
    return SearchHit(
        title=str(item.get("title") or url),
        url=url,
        snippet=str(item.get("content") or ""),
        published=iso_date(item.get("published_date")),
        score=float(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None,
    )
