"""A local fake of Slack's Web API for hermetic tests (DESIGN.md §3.9).

A ``ThreadingHTTPServer`` on 127.0.0.1 (free port) that records every request and answers like
Slack: ``{"ok": true, "channel": ..., "ts": "<increasing>"}``. The real ``slack_sdk.WebClient``
talks to it through ``settings.SLACK_API_URL``; nothing of ours is patched.

Usage: import the ``fake_slack`` fixture into a test module
(``from integrations.tests.fake_slack import fake_slack  # noqa: F401``).
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest


@dataclass
class FakeSlackRequest:
    """One recorded call: ``method`` is the API method (``chat.postMessage``), ``body`` the
    parsed JSON or form body, ``authorization`` the ``Authorization`` header."""

    method: str
    path: str
    http_method: str
    headers: dict[str, str]
    body: dict
    authorization: str = ""


@dataclass
class FakeSlack:
    """The server's state. ``errors`` maps an API method to a Slack error code it should answer
    with (``{"ok": false, "error": code}``), e.g. ``{"chat.postMessage": "channel_not_found"}``."""

    requests: list[FakeSlackRequest] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def calls(self, method: str) -> list[FakeSlackRequest]:
        """Recorded requests to ``method`` (e.g. ``"chat.postMessage"``), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def messages(self) -> list[dict]:
        """Bodies of the ``chat.postMessage`` calls, in order."""
        return [r.body for r in self.calls("chat.postMessage")]

    def _answer(self, request: FakeSlackRequest) -> dict:
        with self._lock:
            self.requests.append(request)
            error = self.errors.get(request.method)
            ts = f"1700000000.{next(self._ts):06d}"
        if error:
            return {"ok": False, "error": error}
        if request.method == "auth.test":
            return {"ok": True, "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}
        return {"ok": True, "channel": request.body.get("channel"), "ts": ts, "message": {"text": request.body.get("text"), "ts": ts}}


def _handler(state: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            content_type = self.headers.get("Content-Type", "")
            if "application/json" in content_type:
                body = json.loads(raw or b"{}")
            else:
                body = dict(parse_qsl(raw.decode("utf-8")))
            method = self.path.split("?", 1)[0].rsplit("/", 1)[-1]
            request = FakeSlackRequest(
                method=method,
                path=self.path,
                http_method=self.command,
                headers=dict(self.headers.items()),
                body=body,
                authorization=self.headers.get("Authorization", ""),
            )
            data = json.dumps(state._answer(request)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = _handle
        do_GET = _handle

        def log_message(self, format: str, *args) -> None:  # keep test output quiet
            pass

    return Handler


@pytest.fixture
def fake_slack(settings):
    """Start a fake Slack Web API and point ``settings.SLACK_API_URL`` at it; yields ``FakeSlack``."""
    state = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="fake-slack", daemon=True)
    thread.start()
    settings.SLACK_API_URL = state.url
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
