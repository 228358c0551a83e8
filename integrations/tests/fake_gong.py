"""A local fake of Gong's REST API v2 for the sync tests (spoken to by our httpx client; nothing of
ours patched): ``POST /v2/calls/extensive`` (``filter.fromDateTime`` inclusive, ``page_size`` calls
per page, the next page's cursor in ``records.cursor``) and ``POST /v2/calls/transcript``
(``filter.callIds``), HTTP basic authentication with the access key and secret.

Failure injection: ``plan`` is consumed one entry per request (``None`` = answer normally):
``429`` (with ``Retry-After: retry_after``), another status, or ``"malformed"`` (200, not JSON).
``request_times`` records when each request arrived (monotonic), to check waits.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any


@dataclass
class FakeGong:
    """Calls (Gong's ``calls/extensive`` shape) and transcripts by call id."""

    access_key: str = "GONGKEY123"
    access_key_secret: str = "gong-secret-value"
    page_size: int = 100
    retry_after: str = "1"
    calls: list[dict] = field(default_factory=list)
    transcripts: dict[str, list[dict]] = field(default_factory=dict)
    plan: list[Any] = field(default_factory=list)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    request_times: list[float] = field(default_factory=list)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_call(self, call_id: str, *, started: str, title: str, parties: list[dict], account_id: str | None = None,
                 transcript: list[tuple[str, str]] = ()) -> None:
        """A call with its parties (``speakerId`` set from the index), an optional Salesforce
        Account in its CRM context, and a transcript of ``(speakerId, text)`` monologues."""
        parties = [{"id": f"p{call_id}{i}", "speakerId": p.get("speakerId", f"s{i}"), "affiliation": p.get("affiliation", "External"), **p}
                   for i, p in enumerate(parties)]
        context = [{"system": "Salesforce", "objects": [{"objectType": "Account", "objectId": account_id, "fields": []}]}] if account_id else []
        self.calls.append({
            "metaData": {"id": call_id, "url": f"https://app.gong.io/call?id={call_id}", "title": title, "started": started,
                         "duration": 1800, "direction": "Conference", "system": "Zoom", "scope": "External"},
            "context": context, "parties": parties,
        })
        self.transcripts[call_id] = [{"speakerId": s, "topic": None, "sentences": [{"start": 0, "end": 1000, "text": t}]}
                                     for s, t in transcript]

    def update_call(self, call_id: str, **meta: Any) -> None:
        next(c for c in self.calls if c["metaData"]["id"] == call_id)["metaData"].update(meta)


def _started(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def gong_handler(state: FakeGong) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{state.access_key}:{state.access_key_secret}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: Any = None, *, raw: bytes | None = None, headers: dict | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with state._lock:
                state.request_times.append(time.monotonic())
                action = state.plan.pop(0) if state.plan else None
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return self._reply(400, {"requestId": "r", "errors": ["malformed JSON body"]})
            state.requests.append((self.path, body))
            if self.headers.get("Authorization") != expected:
                return self._reply(401, {"requestId": "r", "errors": ["Unauthorized"]})
            if action == 429:
                return self._reply(429, {"requestId": "r", "errors": ["Too many requests"]}, headers={"Retry-After": state.retry_after})
            if action == "malformed":
                return self._reply(200, raw=b'{"records": {"cursor": ')
            if isinstance(action, int):
                return self._reply(action, {"requestId": "r", "errors": [f"forced {action}"]})
            if self.path == "/v2/calls/extensive":
                since = _started(body.get("filter", {}).get("fromDateTime", "1970-01-01T00:00:00+00:00"))
                calls = sorted((c for c in state.calls if _started(c["metaData"]["started"]) >= since),
                               key=lambda c: (_started(c["metaData"]["started"]), c["metaData"]["id"]))
                if not calls:
                    return self._reply(404, {"requestId": "r", "errors": ["No calls found corresponding to the provided filters"]})
                offset = int(base64.b64decode(body["cursor"]).decode()) if body.get("cursor") else 0
                page = calls[offset: offset + state.page_size]
                records = {"totalRecords": len(calls), "currentPageSize": len(page), "currentPageNumber": offset // state.page_size}
                if offset + state.page_size < len(calls):
                    records["cursor"] = base64.b64encode(str(offset + state.page_size).encode()).decode()
                return self._reply(200, {"requestId": "r", "records": records, "calls": page})
            if self.path == "/v2/calls/transcript":
                ids = body.get("filter", {}).get("callIds") or []
                items = [{"callId": i, "transcript": state.transcripts.get(i, [])} for i in ids]
                return self._reply(200, {"requestId": "r", "records": {"totalRecords": len(items), "currentPageSize": len(items),
                                                                        "currentPageNumber": 0}, "callTranscripts": items})
            return self._reply(404, {"requestId": "r", "errors": ["no such endpoint"]})

        def log_message(self, *args):
            pass

    return Handler
