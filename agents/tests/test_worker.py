"""The main job through a real django-q2 worker process (``manage.py qcluster``) against the test
database, with each broker: the database (ORM, the default) and Redis (``Q_BROKER_URL``, a real
``redis-server`` started on a free loopback port; skipped when the binary is absent); and the
recovery of runs whose worker died."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from agents.demo import demo_tenant_configure
from agents.models import Run, RunStatus
from agents.services import run_create, run_reap_stale
from agents.tasks import execute_run
from agents.tests.conftest import read_csv
from revops.lib.ports import free_port
from tenants.services import apikey_create

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A throwaway ``redis-server`` on a free loopback port (no persistence); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (CI installs Debian's redis-server)")
    import redis

    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"redis-server did not start: {proc.communicate()[0].decode(errors='replace')[-2000:]}")
            time.sleep(0.1)
    yield url
    client.close()
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["orm", "redis"])
def broker(request, monkeypatch) -> dict[str, str]:
    """Point this process's django-q2 at a broker, asynchronously (the test settings run tasks in
    process); returns the environment the worker process needs for the same broker."""
    from django_q.conf import Conf

    from revops.lib.queue import queue_broker

    monkeypatch.setattr(Conf, "SYNC", False)
    queue_broker.cache_clear()  # one broker per process: rebuilt for the broker chosen here
    request.addfinalizer(queue_broker.cache_clear)
    if request.param == "orm":
        return {"Q_BROKER_URL": ""}
    url = request.getfixturevalue("redis_url")
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", url)
    return {"Q_BROKER_URL": url}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_api_question_is_answered_by_a_real_worker(client, demo_warehouse, broker):
    from django_q.brokers import get_broker

    tenant = demo_tenant_configure(
        tenant_slug="demo", schema=demo_warehouse.schema, reader_role=demo_warehouse.role, reader_password=demo_warehouse.password
    )
    _, key = apikey_create(tenant=tenant, name="worker-test")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "revops.settings",
        "DATABASE_NAME_OVERRIDE": connection.settings_dict["NAME"],
        "Q_WORKERS": "1",
        **broker,
    }
    worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        response = client.post(
            "/api/v1/runs", data=json.dumps({"query": "What is the win rate by sector?"}), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert response.status_code == 202
        tracking_id = response.json()["tracking_id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = client.get(f"/api/v1/runs/{tracking_id}", HTTP_AUTHORIZATION=f"Bearer {key}").json()
            if run["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            output = worker.communicate(timeout=20)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0].decode(errors="replace")
    assert run["status"] == "succeeded", f"run: {run}\nworker output:\n{output[-3000:]}"
    # The worker took the task from the broker under test, which is empty again.
    expected = "Redis" if broker["Q_BROKER_URL"] else "ORM"
    assert type(get_broker()).__name__ == expected and get_broker().queue_size() == 0
    # Expected win rate per sector computed from the CSV files; the semantic model's value alias
    # shows the sample's misspelt 'technolgy' as 'technology'.
    sector = {r["account"]: {"technolgy": "technology"}.get(r["sector"], r["sector"]) for r in read_csv("accounts")}
    won: dict[str, int] = {}
    closed: dict[str, int] = {}
    for r in read_csv("sales_pipeline"):
        if r["deal_stage"] in ("Won", "Lost") and r["account"]:
            s = sector[r["account"]]
            closed[s] = closed.get(s, 0) + 1
            won[s] = won.get(s, 0) + (r["deal_stage"] == "Won")
    for s, n in closed.items():
        assert f"| {s} | {100 * won[s] / n:.1f}% | {won[s]:,} / {n:,} |" in run["answer"]
    assert run["started_at"] and run["finished_at"]


def _stale(run: Run, minutes: int = 30) -> None:
    Run.objects.unscoped().filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now() - dt.timedelta(minutes=minutes), attempts=1)


def test_run_whose_worker_died_is_requeued_then_answered(demo, django_capture_on_commit_callbacks, settings):
    settings.RUN_MAX_ATTEMPTS = 2
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    _stale(run)  # as if a worker claimed it and was killed
    with django_capture_on_commit_callbacks(execute=True):
        assert run_reap_stale() == {"requeued": 1, "failed": 0, "resent": 0}
    run = Run.objects.unscoped().get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2


def test_run_out_of_attempts_is_failed_with_the_reason(demo, settings):
    settings.RUN_MAX_ATTEMPTS = 1
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    _stale(run)
    assert run_reap_stale() == {"requeued": 0, "failed": 1, "resent": 0}
    run = Run.objects.unscoped().get(pk=run.pk)
    assert run.status == RunStatus.FAILED and "worker stopped" in run.error


def test_duplicate_delivery_does_not_run_twice(demo):
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    assert execute_run(run.pk) == RunStatus.SUCCEEDED
    steps = Run.objects.unscoped().get(pk=run.pk).steps.count()
    assert execute_run(run.pk).startswith("skipped")
    assert Run.objects.unscoped().get(pk=run.pk).steps.count() == steps


def test_a_fresh_running_run_is_not_stolen(demo):
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    _stale(run, minutes=0)
    assert execute_run(run.pk).startswith("skipped")
    assert run_reap_stale() == {"requeued": 0, "failed": 0, "resent": 0}


def test_queued_run_whose_message_was_lost_is_resent(demo, django_capture_on_commit_callbacks):
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    Run.objects.unscoped().filter(pk=run.pk).update(queued_at=timezone.now() - dt.timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert run_reap_stale() == {"requeued": 0, "failed": 0, "resent": 1}
    assert Run.objects.unscoped().get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_retry_after_a_partial_attempt_keeps_earlier_steps(demo, django_capture_on_commit_callbacks, settings):
    """Review finding: a retried run used to collide with its first attempt's step numbers."""
    from agents.models import RunStep

    settings.RUN_MAX_ATTEMPTS = 2
    run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", enqueue=False)
    RunStep.objects.unscoped().create(tenant=demo.tenant, run=run, position=1, agent="supervisor", kind="route", name="classify")
    _stale(run)
    with django_capture_on_commit_callbacks(execute=True):
        run_reap_stale()
    run = Run.objects.unscoped().get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    positions = list(RunStep.objects.unscoped().filter(run=run).values_list("position", flat=True))
    assert positions == sorted(set(positions)) and positions[0] == 1 and len(positions) > 2


def test_run_failed_by_the_reaper_is_still_delivered(demo, settings, django_capture_on_commit_callbacks):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings.RUN_MAX_ATTEMPTS = 1
        run = run_create(tenant=demo.tenant, channel="api", query="What is the win rate?", callback_url=f"http://127.0.0.1:{server.server_address[1]}/cb", enqueue=False)
        _stale(run)
        with django_capture_on_commit_callbacks(execute=True):
            assert run_reap_stale()["failed"] == 1
    finally:
        server.shutdown()
    assert received and received[-1]["status"] == "failed" and "worker stopped" in received[-1]["answer"]
