"""The one seam to Gong's REST API v2 (httpx): calls with their context and parties, and
transcripts.

Endpoints (Gong API reference, https://gong.app.gong.io/settings/api/documentation):

- ``POST /v2/calls/extensive`` with ``{"filter": {"fromDateTime": ISO-8601}, "cursor": ...,
  "contentSelector": {"context": "Extended", "exposedFields": {"parties": true}}}``: calls that
  started at or after ``fromDateTime``, one page per request, the next page's cursor in
  ``records.cursor`` (absent on the last page);
- ``POST /v2/calls/transcript`` with ``{"filter": {"callIds": [...]}, "cursor": ...}``.

Authentication: HTTP basic with the access key and its secret (Gong: "Authorization: Basic
base64(<access key>:<access key secret>)"). Rate limits: Gong answers ``429`` with a
``Retry-After`` header (seconds) when the company's limit (3 calls/s, 10,000/day) is hit; the
client waits that long (at most :data:`MAX_RETRY_AFTER_SECONDS` per wait) and tries again, at most
:data:`ATTEMPTS` times in all, then raises. 5xx and network errors are retried the same way with
a short back-off.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

DEFAULT_BASE_URL = "https://api.gong.io"
TIMEOUT_SECONDS = 15.0
ATTEMPTS = 5
MAX_RETRY_AFTER_SECONDS = 60.0


class GongError(Exception):
    """A Gong call failed; the message names the host and the cause, never the key or secret."""


class _Retryable(Exception):
    def __init__(self, message: str, wait: float):
        super().__init__(message)
        self.wait = wait


def _retry_after(response: httpx.Response, *, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


class GongClient:
    """A Gong API v2 client for one tenant.

    Args:
        base_url: ``https://api.gong.io`` or the company's ``https://<company>.api.gong.io``.
        access_key, access_key_secret: the API key pair (never logged or put in a message).
        timeout: seconds per request.
        max_retry_after: longest wait honoured for one ``Retry-After``, seconds (a longer one is
            capped, so a run never sleeps unbounded); ``wait_scale`` multiplies every wait (tests: 0).
        transport: an ``httpx`` transport (tests may pass one; normally None).
    """

    def __init__(
        self,
        *,
        base_url: str,
        access_key: str,
        access_key_secret: str,
        timeout: float = TIMEOUT_SECONDS,
        max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
        wait_scale: float = 1.0,
        attempts: int = ATTEMPTS,
        verify: Any = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self.max_retry_after = max_retry_after
        self.wait_scale = wait_scale
        self.attempts = max(1, attempts)
        self.requests_made = 0
        self._http = httpx.Client(
            base_url=self.base_url, auth=httpx.BasicAuth(access_key, access_key_secret), timeout=timeout,
            follow_redirects=False, trust_env=False, verify=verify, transport=transport,
            headers={"Accept": "application/json", "User-Agent": "revops-ai-gong-sync"},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> "GongClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        wait = exc.wait if isinstance(exc, _Retryable) else 0.5
        return min(wait, self.max_retry_after) * self.wait_scale

    def post(self, path: str, body: dict, *, what: str) -> dict:
        """POST ``body`` as JSON to ``path``; the decoded JSON object.

        Raises:
            GongError: refused key (401/403), rate limit or 5xx still failing after
                ``attempts`` tries, timeout, unreachable host, an answer that is not a JSON object,
                or another error status (Gong's ``errors`` list quoted).
        """
        try:
            for attempt in Retrying(
                stop=stop_after_attempt(self.attempts), wait=self._wait, retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
                reraise=True,
            ):
                with attempt:
                    return self._post_once(path, body, what=what)
        except _Retryable as exc:
            raise GongError(f"{exc} ({self.attempts} attempts)") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_once(self, path: str, body: dict, *, what: str) -> dict:
        self.requests_made += 1
        try:
            response = self._http.post(path, json=body)
        except httpx.TimeoutException:
            raise _Retryable(f"Gong at {self.host} did not answer {what} in time", 0.5) from None
        except httpx.HTTPError as exc:
            raise _Retryable(f"cannot reach Gong at {self.host} ({type(exc).__name__})", 0.5) from None
        if response.status_code == 429:
            raise _Retryable(f"Gong at {self.host} kept rate-limiting {what} (429 Too Many Requests)", _retry_after(response, default=1.0))
        if response.status_code >= 500:
            raise _Retryable(f"Gong at {self.host} answered {what} with HTTP {response.status_code}", _retry_after(response, default=0.5))
        if response.status_code in (401, 403):
            raise GongError(f"Gong at {self.host} refused the access key (HTTP {response.status_code}): check the key and its secret")
        try:
            data = response.json()
        except ValueError:
            raise GongError(f"Gong at {self.host} answered {what} with a response that is not valid JSON") from None
        if response.status_code == 404 and isinstance(data, dict) and "calls" not in data and "callTranscripts" not in data:
            # Gong: "No calls found corresponding to the provided filters". Marked, so that a 404 on a
            # cursor page (where it cannot mean "no calls") is an error, not the end of the listing.
            return {"records": {}, "calls": [], "callTranscripts": [], "not_found": True}
        if response.status_code != 200:
            errors = data.get("errors") if isinstance(data, dict) else None
            detail = "; ".join(str(e) for e in errors)[:300] if isinstance(errors, list) else "no detail"
            raise GongError(f"Gong at {self.host} answered {what} with HTTP {response.status_code} ({detail})")
        if not isinstance(data, dict):
            raise GongError(f"Gong at {self.host} answered {what} with JSON that is not an object")
        return data

    def calls_page(self, *, from_datetime: dt.datetime, cursor: str | None = None) -> tuple[list[dict], str | None]:
        """One page of calls started at or after ``from_datetime`` (aware), with their CRM
        context and parties: ``(calls, next cursor or None)``. Raises GongError."""
        body: dict[str, Any] = {
            "filter": {"fromDateTime": from_datetime.isoformat()},
            "contentSelector": {"context": "Extended", "exposedFields": {"parties": True}},
        }
        if cursor:
            body["cursor"] = cursor
        data = self.post("/v2/calls/extensive", body, what="the calls request")
        if cursor and data.get("not_found"):
            raise GongError(f"Gong at {self.host} answered the next page of the calls request with HTTP 404 (the cursor was not accepted)")
        calls = data.get("calls", [])
        if not isinstance(calls, list):
            raise GongError(f"Gong at {self.host} answered the calls request without a 'calls' list")
        records = data.get("records") if isinstance(data.get("records"), dict) else {}
        return calls, (str(records["cursor"]) if records.get("cursor") else None)

    def transcripts(self, *, call_ids: list[str]) -> dict[str, list[dict]]:
        """Transcripts of ``call_ids``: ``{call id: [{"speakerId", "topic", "sentences": [{"start",
        "end", "text"}]}]}`` (all pages). Raises GongError."""
        out: dict[str, list[dict]] = {}
        if not call_ids:
            return out
        cursor = None
        while True:
            body: dict[str, Any] = {"filter": {"callIds": call_ids}}
            if cursor:
                body["cursor"] = cursor
            data = self.post("/v2/calls/transcript", body, what="the transcript request")
            items = data.get("callTranscripts", [])
            if not isinstance(items, list):
                raise GongError(f"Gong at {self.host} answered the transcript request without a 'callTranscripts' list")
            for item in items:
                if isinstance(item, dict) and item.get("callId"):
                    out[str(item["callId"])] = item.get("transcript") if isinstance(item.get("transcript"), list) else []
            records = data.get("records") if isinstance(data.get("records"), dict) else {}
            cursor = records.get("cursor")
            if not cursor:
                return out
