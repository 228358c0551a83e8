"""What every web search provider shares: the hit, the error, the retry policy and date parsing.

Retry policy (the same for every provider): at most :data:`MAX_ATTEMPTS` requests; a timeout, a
network error, HTTP 429 or 5xx is retried after the provider's ``Retry-After`` (seconds or an
HTTP date) or else an exponential backoff (0.2 s, 0.4 s). A ``Retry-After`` longer than
:data:`MAX_RETRY_AFTER_SECONDS` is not waited for (a run has one time budget, DESIGN.md §5): the
search fails at once and says when to try again. 401/403 (the key) and other 4xx are not
retried. Every failure is a :class:`WebSearchUnavailable` whose message says what happened in
words and never holds the API key.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from integrations.outbound import parse_retry_after

MAX_ATTEMPTS = 3
MAX_RETRY_AFTER_SECONDS = 5.0
BACKOFF_BASE_SECONDS = 0.2
TIMEOUT_SECONDS = 10.0


class WebSearchUnavailable(Exception):
    """No web search is configured for the tenant, or the provider could not be used; the
    message says why (never with the API key)."""


@dataclass(frozen=True)
class SearchHit:
    """One web result, provider text treated as data.

    ``title``, ``url`` (http or https), ``snippet``; ``published``: the page's publication date
    as ``YYYY-MM-DD`` when the provider gave one (Brave ``page_age``, Tavily ``published_date``),
    else ``""`` (never guessed); ``score``: the provider's relevance score (Tavily: 0-1, relative
    within one response) or None.
    """

    title: str
    url: str
    snippet: str
    published: str = ""
    score: float | None = None


def iso_date(value: Any) -> str:
    """A provider's date text as ``YYYY-MM-DD``: ISO 8601 (``2026-05-01``, ``2026-05-01T10:00:00Z``)
    or an RFC 2822 / HTTP date (``Fri, 01 May 2026 10:00:00 GMT``); ``""`` for anything else
    (relative texts such as "2 days ago" are not converted: the date would be a guess)."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        pass
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return ""
    return parsed.date().isoformat() if parsed else ""


def web_url(value: Any) -> str:
    """``value`` when it is an absolute http(s) URL with a host, else ``""`` (such hits are dropped:
    a citation links to a page)."""
    if not isinstance(value, str):
        return ""
    parts = urlsplit(value.strip())
    return value.strip() if parts.scheme in ("http", "https") and parts.hostname else ""


def request_json(send: Callable[[], httpx.Response], *, provider: str, timeout: float, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call ``send`` (one HTTP request) under the retry policy of the module docstring; return the
    decoded JSON body of the first 2xx answer.

    Raises:
        WebSearchUnavailable: "<provider> refused the API key (HTTP 401)", "<provider> is rate
            limiting this key (HTTP 429); retry after N s", "<provider> did not answer within N s",
            "<provider> answered HTTP N", "<provider> answered with malformed JSON", "cannot reach
            <provider> (ConnectError)".
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        backoff = BACKOFF_BASE_SECONDS * 2 ** (attempt - 1)
        try:
            response = send()
        except httpx.TimeoutException:
            if last:
                raise WebSearchUnavailable(f"web search failed: {provider} did not answer within {timeout:g} s ({MAX_ATTEMPTS} attempts)") from None
            sleep(backoff)
            continue
        except httpx.HTTPError as exc:
            if last:
                raise WebSearchUnavailable(f"web search failed: cannot reach {provider} ({type(exc).__name__})") from None
            sleep(backoff)
            continue
        code = response.status_code
        if 200 <= code < 300:
            try:
                return response.json()
            except ValueError:
                raise WebSearchUnavailable(f"web search failed: {provider} answered with malformed JSON") from None
        if code in (401, 403):
            raise WebSearchUnavailable(f"web search failed: {provider} refused the API key (HTTP {code})")
        if code == 429 or code >= 500:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            what = f"{provider} is rate limiting this key (HTTP 429)" if code == 429 else f"{provider} answered HTTP {code}"
            if wait is not None and wait > MAX_RETRY_AFTER_SECONDS:
                raise WebSearchUnavailable(f"web search failed: {what}; retry after {wait:.0f} s")
            if last:
                raise WebSearchUnavailable(f"web search failed: {what} ({MAX_ATTEMPTS} attempts)")
            sleep(backoff if wait is None else wait)
            continue
        raise WebSearchUnavailable(f"web search failed: {provider} answered HTTP {code}")
    raise AssertionError("unreachable")  # pragma: no cover
