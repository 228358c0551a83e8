"""Web research through the real HTTP client against a local fake of the Brave Search API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from agents.tests.runs import ask
from integrations.services import credential_set


@pytest.fixture
def fake_brave():
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            parts = urlsplit(self.path)
            seen.append({"path": parts.path, "query": parse_qs(parts.query), "token": self.headers.get("X-Subscription-Token")})
            body = json.dumps({"web": {"results": [{"title": "Acme Corporation announces Q2 results", "url": "https://news.example/acme-q2", "description": "Acme reported revenue growth."}]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/res/v1/", seen
    server.shutdown()


def test_web_search_uses_the_tenant_provider(demo, fake_brave):
    base_url, seen = fake_brave
    credential_set(tenant=demo.tenant, kind="web_search", config={"base_url": base_url}, secrets={"api_key": "brave-key-123456"})
    run = ask(demo.tenant, "Research Acme Corporation recent announcements")
    assert run.route == ["web_search"]
    assert "https://news.example/acme-q2" in run.answer_markdown
    assert seen[0]["path"] == "/res/v1/web/search" and seen[0]["token"] == "brave-key-123456"
    assert "brave-key-123456" not in json.dumps([s.input for s in run.steps.all()])


def test_web_search_without_provider_says_so_and_invents_nothing(demo):
    run = ask(demo.tenant, "Research Acme Corporation recent announcements")
    assert "web search is not configured" in run.answer_markdown
    assert "http" not in run.answer_markdown.split("_Answered offline")[0]
