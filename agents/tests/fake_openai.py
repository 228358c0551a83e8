"""A local fake of an OpenAI-compatible ``/v1/chat/completions`` endpoint for tests.

``FakeOpenAI.script`` is a list of callables or dicts; each request pops the next one (a
callable receives the request body and returns the reply dict). Requests are recorded.
"""

from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def text_reply(text: str, finish: str = "stop", usage=(100, 20)) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


_ids = itertools.count(1)


def tool_reply(name: str, arguments: dict, usage=(100, 20)) -> dict:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [{"id": f"call_{next(_ids)}", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}],
                },
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: list = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.default = None  # reply when the script is empty
        self._lock = threading.Lock()

    def _next(self, body: dict) -> dict:
        with self._lock:
            self.requests.append(body)
            item = self.script.pop(0) if self.script else self.default
        if item is None:
            return text_reply("(script exhausted)")
        return item(body) if callable(item) else item


@pytest.fixture
def fake_openai():
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = json.dumps(state._next(body)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    server.shutdown()
    server.server_close()
