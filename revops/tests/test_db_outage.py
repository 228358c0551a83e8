"""Database outage (issue 13, finding 5): the API and Slack routes answer 503 with ``Retry-After``
while PostgreSQL is down, never a 500, and runs accepted before the outage finish once it is back.

The fault test really stops a database: a throwaway embedded PostgreSQL (its own pgserver data
directory under pytest's tmp dir, so the shared ``.data/pg`` server that parallel test processes
use is never touched), migrated and loaded with the demo tenant, served by ``manage.py serve``
(gunicorn + a django-q2 worker, DEBUG off) exactly as ``make serve`` runs it. ``pg_ctl stop -m
fast`` stops it (what ``make stop-db`` does) and a fresh ``pgserver.get_server`` starts it again.

The unit tests below use the test database and Django's test client: a connection error raised
inside a DRF view and inside a plain Slack view.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import shutil
import tempfile
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from django.db import InterfaceError, OperationalError

from revops.lib.db_outage import RETRY_AFTER_SECONDS, database_unavailable
from revops.lib.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


# --- classification --------------------------------------------------------------------------------


def _wrapped(cause: BaseException) -> OperationalError:
    """An OperationalError as Django raises it: the psycopg error kept as ``__cause__``."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_wrapped(psycopg.OperationalError("connection refused")), True),  # no SQLSTATE: never reached a server
        (_wrapped(psycopg.errors.AdminShutdown("terminating connection due to administrator command")), True),
        (_wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")), True),
        (_wrapped(psycopg.errors.TooManyConnections("too many clients")), True),
        (_wrapped(psycopg.errors.ConnectionFailure("connection failure")), True),
        (InterfaceError("connection already closed"), True),
        (_wrapped(psycopg.errors.QueryCanceled("canceling statement due to statement timeout")), False),
        (_wrapped(psycopg.errors.DeadlockDetected("deadlock detected")), False),
        (ValueError("not a database error"), False),
    ],
    ids=["no-sqlstate", "57P01", "57P03", "53300", "08006", "interface", "57014-timeout", "40P01-deadlock", "other"],
)
def test_database_unavailable_classifies_connection_errors_only(exc, expected):
    assert database_unavailable(exc) is expected


# --- in-process: the failing query is a real one against a closed port ---------------------------


@pytest.fixture
def database_down(settings):
    """Every new connection of the default alias goes to a port where nothing listens (the test
    database itself is left alone): the real psycopg connection error, not a mock."""
    from django.db import connections

    conn = connections["default"]
    saved = dict(conn.settings_dict)
    conn.close()
    conn.settings_dict.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "OPTIONS": {**saved.get("OPTIONS", {}), "connect_timeout": 2}})
    try:
        yield
    finally:
        conn.close()
        conn.settings_dict.clear()
        conn.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_api_answers_503_json_with_retry_after_when_the_database_is_unreachable(client, world_a, database_down):
    for method, path, body in [
        ("post", "/api/v1/runs", {"query": "What is the win rate?"}),
        ("get", "/api/v1/runs", None),
        ("get", "/api/v1/runs/00000000-0000-0000-0000-000000000000", None),
    ]:
        kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body else {}
        response = getattr(client, method)(path, **kwargs, **world_a.auth())
        assert response.status_code == 503, (path, response.status_code, response.content[:300])
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert response["Content-Type"] == "application/json"
        error = response.json()["error"]
        assert error["code"] == "database_unavailable" and error["fields"] is None
        assert "127.0.0.1" not in response.content.decode()  # driver details stay in the log


@pytest.mark.django_db(transaction=True)
def test_slack_routes_answer_plain_503_with_retry_after_when_the_database_is_unreachable(client, database_down):
    body = json.dumps({"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}})
    for path in ("/slack/events/acme-a", "/slack/interactivity/acme-a"):
        response = client.post(path, data=body, content_type="application/json", HTTP_X_SLACK_REQUEST_TIMESTAMP=str(int(time.time())), HTTP_X_SLACK_SIGNATURE="v0=00")
        assert response.status_code == 503, (path, response.status_code, response.content[:300])
        assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
        assert response["Content-Type"].startswith("text/plain")


# --- the fault test: a real server, a real database stopped and started again ----------------------


def _pg_ctl_stop(pgdata: Path) -> None:
    from pgserver._commands import pg_ctl

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user="pgserver" if os.geteuid() == 0 else None)


def _pg_start(pgdata: Path) -> None:
    """Start the throwaway server again, in a fresh process as ``revops.embedded_db`` does."""
    code = "import sys, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode=None)"
    subprocess.run([sys.executable, "-W", "ignore", "-c", code, str(pgdata)], check=True, cwd=ROOT, timeout=60, capture_output=True)


@pytest.fixture(scope="module")
def throwaway_database():
    """A private embedded PostgreSQL, migrated, with the demo tenant; yields (pgdata, env, api_key)."""
    # Not under pytest's own temp root: that is private to the user running pytest (0700), and the
    # embedded server runs as another user (pgserver) when pytest runs as root, so pg_ctl could not
    # reach its data directory there.
    data_dir = Path(tempfile.mkdtemp(prefix="revops-outage-"))
    data_dir.chmod(0o755)
    code = "import sys; from pathlib import Path; from revops.embedded_db import embedded_database_url; print(embedded_database_url(Path(sys.argv[1])))"
    url = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(data_dir)], check=True, cwd=ROOT, capture_output=True, text=True, timeout=120
    ).stdout.strip().splitlines()[-1]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "revops.settings",
        "DATABASE_URL": url,
        "DB_CONNECT_TIMEOUT": "2",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_NAME_OVERRIDE", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    key_file = data_dir / "key"
    try:
        for args in (["migrate", "--noinput"], ["createcachetable"], ["demo", "--key-file", str(key_file)]):
            done = subprocess.run(manage + args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
        yield data_dir / "pg", env, key_file.read_text().strip()
    finally:
        try:
            _pg_ctl_stop(data_dir / "pg")
        except Exception:  # already stopped
            pass
        shutil.rmtree(data_dir, ignore_errors=True)


def _get(url: str, **kwargs) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=10, **kwargs)
    except httpx.TransportError:
        return None


@pytest.mark.worker
def test_outage_answers_503_then_the_queued_runs_finish(throwaway_database, tmp_path):
    pgdata, env, key = throwaway_database
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_env = {
        **env,
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(tmp_path / "static"),
        "Q_WORKERS": "1",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "4",
        "WEB_ACCESS_LOG": "",
        "READYZ_REQUIRE_WORKER": "1",
        "METRICS_TOKEN": "metrics-token-for-outage-test-0123",  # /readyz's checks need it
        # Short budgets so that the recovery paths run within the test: a run whose task met the
        # outage is requeued by the reaper after WORKER_TIMEOUT_SECONDS + 30 s (here 36 + 30), and
        # a task the broker handed out but never acknowledged is redelivered after the broker's
        # retry (WORKER_TIMEOUT_SECONDS + 60). With the defaults that is 4 to 5 minutes.
        "RUN_BUDGET_SECONDS": "5",
        "LLM_TIMEOUT_SECONDS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--addr", f"127.0.0.1:{port}"],
        env=serve_env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    auth = {"Authorization": f"Bearer {key}"}
    output = ""
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "serve exited early"
            ready = _get(f"{base}/readyz", headers={"Authorization": "Bearer metrics-token-for-outage-test-0123"})
            if ready is not None and ready.status_code == 200 and (ready.json()["checks"].get("workers", {}).get("clusters") or [{}])[0].get("workers", 0) >= 1:
                break
            assert time.monotonic() < deadline, f"not ready: {ready and ready.text[:500]}"
            time.sleep(0.3)

        questions = ["What is the win rate by sector?", "What is the pipeline by region?", "Which deals are stalled?", "What is the win rate by product?", "What is revenue by quarter?", "What is the pipeline by manager?"]
        ids = []
        for question in questions:
            accepted = httpx.post(f"{base}/api/v1/runs", json={"query": question}, headers=auth, timeout=10)
            assert accepted.status_code == 202, accepted.text[:500]
            ids.append(accepted.json()["tracking_id"])
        _pg_ctl_stop(pgdata)  # mid-queue: the worker has at most started the first runs

        # While the database is down: 503 + Retry-After, JSON on the API, plain text on Slack.
        for method, path, body in [
            ("POST", "/api/v1/runs", {"query": "Anything during the outage?"}),
            ("GET", f"/api/v1/runs/{ids[-1]}", None),
            ("GET", "/api/v1/runs", None),
        ]:
            response = httpx.request(method, base + path, json=body, headers=auth, timeout=30)
            assert response.status_code == 503, (method, path, response.status_code, response.text[:500])
            assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
            assert response.headers["content-type"] == "application/json"
            assert response.json()["error"]["code"] == "database_unavailable"
        slack = httpx.post(f"{base}/slack/events/demo", content=b'{"type":"event_callback"}', headers={"Content-Type": "application/json", "X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}, timeout=30)
        assert slack.status_code == 503, (slack.status_code, slack.text[:500])
        assert slack.headers["retry-after"] == str(RETRY_AFTER_SECONDS) and slack.headers["content-type"].startswith("text/plain")
        readyz = _get(f"{base}/readyz")
        assert readyz is not None and readyz.status_code == 503
        time.sleep(3)  # the worker meets the outage too
        assert proc.poll() is None, "serve (web or worker) exited during the outage"

        _pg_start(pgdata)
        statuses: dict[str, str] = {}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            statuses = {}
            for tracking_id in ids:
                got = _get(f"{base}/api/v1/runs/{tracking_id}", headers=auth)
                statuses[tracking_id] = got.json()["status"] if got is not None and got.status_code == 200 else f"http {got and got.status_code}"
            if all(s in ("succeeded", "failed") for s in statuses.values()):
                break
            time.sleep(1)
        assert set(statuses.values()) == {"succeeded"}, statuses
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            output = proc.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0].decode(errors="replace")
        print(output[-5000:])
    assert "Internal Server Error" not in output and "unhandled API error" not in output, output[-3000:]
