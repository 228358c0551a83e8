"""callback_url: the finished run is POSTed to a local receiver; unsafe URLs are refused."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.callbacks import callback_deliver
from agents.models import Run
from tenants.context import tenant_context


class Receiver:
    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=()):
        r = Receiver(list(statuses))
        made.append(r)
        return r

    yield make
    for r in made:
        r.server.shutdown()


def test_finished_run_is_delivered_to_callback(client, demo, receiver, django_capture_on_commit_callbacks):
    hook = receiver()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/runs",
            data={"query": "What is the win rate?", "callback_url": hook.url, "source_system": "crm", "source_process": "weekly"},
            content_type="application/json",
            **demo.auth(),
        )
    tracking_id = response.json()["tracking_id"]
    assert len(hook.bodies) == 1
    body = hook.bodies[0]
    assert body["tracking_id"] == tracking_id and body["status"] == "succeeded"
    assert (body["source_system"], body["source_process"]) == ("crm", "weekly")
    assert "Win rate" in body["answer"] and body["citations"]
    run = client.get(f"/api/v1/runs/{tracking_id}", **demo.auth()).json()
    assert run["callback_status"] == "delivered: HTTP 200"


def test_callback_retries_on_5xx(demo, receiver):
    hook = receiver([503, 200])
    run = Run.objects.unscoped().create(tenant=demo.tenant, channel="api", query="q", as_of=dt.date(2025, 6, 30), status="succeeded", callback_url=hook.url)
    with tenant_context(demo.tenant):
        assert callback_deliver(run=run) == "delivered: HTTP 200"
    assert len(hook.bodies) == 2


def test_callback_to_private_address_is_refused(demo, settings):
    settings.ALLOW_HTTP_LOOPBACK_CALLBACKS = False
    run = Run.objects.unscoped().create(tenant=demo.tenant, channel="api", query="q", as_of=dt.date(2025, 6, 30), status="succeeded", callback_url="https://127.0.0.1:9/hook")
    with tenant_context(demo.tenant):
        assert "non-public address" in callback_deliver(run=run)
