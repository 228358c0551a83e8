"""A local fake of Slack's Web API for hermetic tests (DESIGN.md §3.9).

A ``ThreadingHTTPServer`` on 127.0.0.1 (free port) that records every request and answers like
Slack: ``{"ok": true, "channel": ..., "ts": "<increasing>"}``; ``chat.update`` answers with the
updated message's ``ts`` (``message_not_found`` for a ts it never issued). Like Slack, it refuses
``blocks`` that break Block Kit's limits with ``invalid_blocks`` (checked with slack-sdk's own block
models: text lengths, field and element counts) and more than 50 blocks.

File uploads follow Slack's external upload flow (what ``WebClient.files_upload_v2`` does):
``files.getUploadURLExternal`` (``filename``, ``length`` > 0, ``alt_txt`` <= 1,000 characters, else
``alt_txt_too_large``) answers an ``upload_url`` on this server and a ``file_id``; a POST of the raw
bytes to that URL is stored (HTTP ``upload_status``, 200 unless a test sets another, and 400 when
the byte count differs from ``length``); ``files.completeUploadExternal`` (``files`` JSON
``[{"id", "title"}]``, ``channel_id``, ``thread_ts``) shares them (``file_not_found`` for an id never
issued or never uploaded). :meth:`FakeSlack.uploads` lists the shared files. The real
``slack_sdk.WebClient`` talks to it through ``settings.SLACK_API_URL``; nothing of ours is patched.

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
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MAX_BLOCKS = 50


def blocks_problem(blocks: object) -> str:
    """Why Slack would refuse ``blocks`` (``""`` when they are valid), like its ``invalid_blocks``."""
    if blocks in (None, ""):
        return ""
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if not isinstance(blocks, list):
        return "blocks is not a list"
    if len(blocks) > MAX_BLOCKS:
        return f"{len(blocks)} blocks (max {MAX_BLOCKS})"
    for n, raw in enumerate(blocks):
        try:
            block = Block.parse(raw)
            if block is None:
                return f"block {n}: unknown type"
            block.validate_json()
            for sub in [getattr(block, "text", None), *(getattr(block, "fields", None) or []), *(getattr(block, "elements", None) or [])]:
                if sub is not None and hasattr(sub, "validate_json"):
                    sub.validate_json()
        except (SlackObjectFormationError, KeyError, TypeError, ValueError) as exc:
            return f"block {n}: {exc}"
    return ""


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
    answer: dict = field(default_factory=dict)


@dataclass
class FakeSlackUpload:
    """A file shared through the external upload flow: what reached Slack, and where it went."""

    file_id: str
    filename: str
    data: bytes
    alt_txt: str
    channel: str
    thread_ts: str
    title: str


MAX_ALT_TXT = 1000


@dataclass
class FakeSlack:
    """The server's state. ``errors`` maps an API method to a Slack error code it should answer
    with (``{"ok": false, "error": code}``), e.g. ``{"chat.postMessage": "channel_not_found"}``."""

    requests: list[FakeSlackRequest] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    upload_status: int = 200
    port: int = 0
    _files: dict[str, dict] = field(default_factory=dict, repr=False)
    _shared: list[FakeSlackUpload] = field(default_factory=list, repr=False)
    _file_ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def calls(self, method: str) -> list[FakeSlackRequest]:
        """Recorded requests to ``method`` (e.g. ``"chat.postMessage"``), in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.method == method]

    def uploads(self) -> list[FakeSlackUpload]:
        """Files shared by an accepted ``files.completeUploadExternal``, in order."""
        with self._lock:
            return list(self._shared)

    def _receive_upload(self, file_id: str, data: bytes) -> int:
        """The POST of a file's bytes to its upload URL; the HTTP status to answer."""
        with self._lock:
            self.requests.append(FakeSlackRequest(method="upload", path=f"/upload/{file_id}", http_method="POST", headers={}, body={"file_id": file_id, "length": len(data)}))
            pending = self._files.get(file_id)
            if self.upload_status != 200:
                return self.upload_status
            if pending is None or pending["length"] != len(data):
                return 400
            pending["data"] = data
            return 200

    def messages(self) -> list[dict]:
        """Bodies of the ``chat.postMessage`` calls, in order."""
        return [r.body for r in self.calls("chat.postMessage")]

    def thread(self) -> list[dict]:
        """Messages as they read now: each accepted ``chat.postMessage`` body (plus its ``ts``) with
        later accepted ``chat.update`` calls to the same ``ts`` applied (``text``/``blocks``)."""
        with self._lock:
            current: dict[str, dict] = {}
            for r in self.requests:
                if r.method == "chat.postMessage" and r.answer.get("ok"):
                    current[r.answer["ts"]] = {**r.body, "ts": r.answer["ts"]}
                elif r.method == "chat.update" and r.answer.get("ok") and r.body.get("ts") in current:
                    message = current[r.body["ts"]]
                    message["text"] = r.body.get("text", message.get("text"))
                    message["blocks"] = r.body.get("blocks")
            return list(current.values())

    def _answer(self, request: FakeSlackRequest) -> dict:
        with self._lock:
            self.requests.append(request)
            error = self.errors.get(request.method)
            ts = f"1700000000.{next(self._ts):06d}"
            issued = {r.answer.get("ts") for r in self.requests if r.method == "chat.postMessage" and r.answer.get("ok")}
        request.answer = self._reply(request, error, ts, issued)
        return request.answer

    def _reply(self, request: FakeSlackRequest, error: str | None, ts: str, issued: set) -> dict:
        if error:
            return {"ok": False, "error": error}
        if request.method == "auth.test":
            return {"ok": True, "team_id": "T0FAKE", "user_id": "U0BOT", "bot_id": "B0BOT"}
        if request.method in ("chat.postMessage", "chat.update") and blocks_problem(request.body.get("blocks")):
            return {"ok": False, "error": "invalid_blocks", "errors": [blocks_problem(request.body.get("blocks"))]}
        if request.method == "files.getUploadURLExternal":
            return self._get_upload_url(request.body)
        if request.method == "files.completeUploadExternal":
            return self._complete_upload(request.body)
        if request.method == "chat.update":
            if request.body.get("ts") not in issued:
                return {"ok": False, "error": "message_not_found"}
            ts = request.body["ts"]
        return {"ok": True, "channel": request.body.get("channel"), "ts": ts, "message": {"text": request.body.get("text"), "ts": ts}}


    def _get_upload_url(self, body: dict) -> dict:
        try:
            length = int(body.get("length") or 0)
        except ValueError:
            length = 0
        if not body.get("filename") or length <= 0:
            return {"ok": False, "error": "missing_argument"}
        if len(body.get("alt_txt") or "") > MAX_ALT_TXT:
            return {"ok": False, "error": "alt_txt_too_large"}
        with self._lock:
            file_id = f"F{next(self._file_ids):08d}"
            self._files[file_id] = {"filename": body["filename"], "length": length, "alt_txt": body.get("alt_txt") or "", "data": None}
        return {"ok": True, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, body: dict) -> dict:
        try:
            files = json.loads(body.get("files") or "[]")
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        with self._lock:
            pending = [self._files.get(str(f.get("id"))) for f in files]
            if any(p is None or p["data"] is None for p in pending):
                return {"ok": False, "error": "file_not_found"}
            shared = []
            for f, p in zip(files, pending):
                upload = FakeSlackUpload(
                    file_id=str(f["id"]), filename=p["filename"], data=p["data"], alt_txt=p["alt_txt"],
                    channel=str(body.get("channel_id") or ""), thread_ts=str(body.get("thread_ts") or ""), title=str(f.get("title") or p["filename"]),
                )
                self._files.pop(upload.file_id)
                self._shared.append(upload)
                shared.append({"id": upload.file_id, "title": upload.title, "name": upload.filename})
        return {"ok": True, "files": shared}


def _handler(state: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.startswith("/upload/"):  # a file's bytes, to the URL files.getUploadURLExternal issued
                status = state._receive_upload(self.path.rsplit("/", 1)[-1], raw)
                reply = f"OK - {len(raw)}".encode() if status == 200 else b"upload failed"
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
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
