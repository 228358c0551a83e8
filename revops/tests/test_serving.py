"""The production-style server as `make serve` runs it: `manage.py serve` starts gunicorn (DEBUG
off, whitenoise serving the collected static files) and a django-q2 worker against the test
database; the admin CSS and the Swagger UI assets come from our own server, /readyz sees the
worker's heartbeat, Ctrl-C stops both. A database outage gives /readyz 503 JSON. Loopback only."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from revops.lib.ports import free_port, port_in_use

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-token-for-serving-tests-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}  # /readyz shows its checks only with the metrics token


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """An empty STATIC_ROOT: `serve` must collect the static files itself (a fresh clone)."""
    return tmp_path_factory.mktemp("static")


def _serve(static_root: Path, *args: str, database: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "revops.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_STATIC_ROOT": str(static_root),
        "DATABASE_NAME_OVERRIDE": database,
        "Q_WORKERS": "1",
        "WEB_WORKERS": "1",
        "WEB_THREADS": "2",
        "WEB_ACCESS_LOG": "",
        "READYZ_REQUIRE_WORKER": "1",
        "METRICS_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "serve", "--addr", f"127.0.0.1:{port}", *args],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc: subprocess.Popen, url: str, ready=lambda r: r.status_code == 200, seconds: float = 60, headers=None) -> httpx.Response:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}:\n{proc.stdout.read().decode(errors='replace')[-3000:]}"
        try:
            last = httpx.get(url, timeout=5, headers=headers)
            if ready(last):
                return last
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready within {seconds} s; last answer: {last and (last.status_code, last.text[:500])}")


def _stop(proc: subprocess.Popen, sig=signal.SIGINT) -> str:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        output = proc.communicate(timeout=30)[0]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output = proc.communicate()[0]
        raise AssertionError(f"serve did not stop on {sig!r}:\n{output.decode(errors='replace')[-3000:]}")
    return output.decode(errors="replace")


@pytest.mark.worker
@pytest.mark.django_db
def test_serve_runs_gunicorn_with_static_files_swagger_offline_and_a_worker(static_root):
    proc, base = _serve(static_root, database=connection.settings_dict["NAME"])
    try:
        def worker_up(r: httpx.Response) -> bool:
            # 200 only once the cluster's heartbeat is seen; its worker processes start a moment later.
            clusters = r.json().get("checks", {}).get("workers", {}).get("clusters") or [] if r.status_code == 200 else []
            return bool(clusters) and clusters[0].get("workers", 0) >= 1

        ready = _wait(proc, f"{base}/readyz", seconds=90, ready=worker_up, headers=AUTH)
        body = ready.json()
        assert body["status"] == "ready" and body["reasons"] == []
        assert body["checks"]["migrations"] == {"ok": True, "unapplied": []}
        assert body["checks"]["workers"]["clusters"][0]["workers"] == 1
        assert body["checks"]["queue"]["oldest_queued_run_age_seconds"] is None
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}

        css = httpx.get(f"{base}/static/admin/css/base.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css") and "body" in css.text
        login = httpx.get(f"{base}/admin/login/")
        assert login.status_code == 200
        # the admin links its CSS by the hashed name of the manifest, served with a long cache life
        hashed = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text).group(1)
        cached = httpx.get(base + hashed)
        assert cached.status_code == 200 and "immutable" in cached.headers["cache-control"]

        docs = httpx.get(f"{base}/api/v1/docs")
        assert docs.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
        assert any("swagger-ui-bundle" in a for a in assets) and any(a.endswith(".css") for a in assets)
        assert not re.search(r'https?://|"//', " ".join(assets)), f"assets from elsewhere: {assets}"
        assert "cdn" not in docs.text.lower()
        for asset in assets:
            got = httpx.get(base + asset)
            assert got.status_code == 200, asset
        assert httpx.get(f"{base}/api/v1/schema").status_code == 200
    finally:
        output = _stop(proc)
    assert proc.returncode == 0, output[-3000:]
    assert "stopped (exit codes" in output
    assert not port_in_use("127.0.0.1", int(base.rsplit(":", 1)[1])), "gunicorn still listening after Ctrl-C"


def test_readyz_answers_503_json_when_the_database_is_unreachable(static_root):
    proc, base = _serve(static_root, "--no-worker", database="revops_no_such_database")
    try:
        _wait(proc, f"{base}/healthz")  # liveness does not need the database
        response = httpx.get(f"{base}/readyz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"status": "not_ready", "reasons": ["database_unreachable"]}
        detailed = httpx.get(f"{base}/readyz", headers=AUTH)
        assert detailed.json()["checks"] == {"database": {"ok": False, "error": "OperationalError"}}
        assert "revops_no_such_database" not in detailed.text  # the details go to the log only
    finally:
        output = _stop(proc, signal.SIGTERM)
    assert "revops_no_such_database" in output  # ...where the operator finds them


def test_demo_run_says_plainly_when_its_port_is_taken(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("rk_x_y")
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(CommandError, match=rf"port {port} on 127.0.0.1 is already in use by another process"):
            call_command("demo_run", "--port", str(port), "--key-file", str(key_file))
        with pytest.raises(CommandError, match="already in use"):
            call_command("serve", "--addr", f"127.0.0.1:{port}")


def _settings_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    """Import revops.settings (production module, not the test one) with ``env`` and print a few
    values; the READYZ_* and API_THROTTLE_* variables of this shell are removed first."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("READYZ_", "API_THROTTLE_"))}
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.READYZ_REQUIRE_WORKER, s.READYZ_MAX_QUEUE_AGE_SECONDS, s.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env={**clean, "DJANGO_SETTINGS_MODULE": "revops.settings", **env},
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )


def test_settings_validate_throttle_rates_once_and_readiness_defaults_to_serving():
    ok = _settings_in_a_fresh_process(API_THROTTLE_WRITE_RATE="none", API_THROTTLE_READ_RATE="10/S")
    assert ok.returncode == 0, ok.stderr[-2000:]
    # readiness does not wait for workers or the queue unless opted in; "none" is None, rates normalised
    assert ok.stdout.strip() == "False 0 {'api_key_write': None, 'api_key_read': '10/s'}"
    bad = _settings_in_a_fresh_process(API_THROTTLE_WRITE_RATE="lots")
    assert bad.returncode != 0
    assert "ImproperlyConfigured" in bad.stderr and "API_THROTTLE_WRITE_RATE" in bad.stderr


def test_gunicorn_worker_start_freezes_the_loaded_application():
    """post_worker_init, in a fresh process with the application loaded as gunicorn loads it,
    imports the URLconf's view modules and moves everything alive to the permanent generation
    (gc.freeze), so a full collection during a request no longer walks the start-up objects."""
    probe = (
        "import gc, sys\n"
        "from revops.wsgi import application\n"
        "before = 'agents.views' in sys.modules\n"
        "tracked = len(gc.get_objects())\n"
        "from revops import gunicorn_conf\n"
        "gunicorn_conf.post_worker_init(None)\n"
        "print(before, 'agents.views' in sys.modules, tracked, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "revops.settings", "DJANGO_DEBUG": "0"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, tracked, frozen, left = done.stdout.split()[-5:]
    assert (before, after) == ("False", "True")  # the view modules were imported by the hook
    assert int(frozen) >= int(tracked)  # everything loaded before the hook, and the views, are frozen
    assert int(left) < 1_000  # what a collection still walks


@pytest.mark.django_db
def test_the_benchmark_trivial_view_exists_only_in_the_benchmark_urlconf(client, settings):
    """benchmarks.urls adds /bench/trivial (the comparator of benchmarks.intake and
    benchmarks.slack_ack) behind the same middleware; the production URLconf has no such route."""
    assert client.get("/bench/trivial").status_code == 404
    settings.ROOT_URLCONF = "benchmarks.urls"
    response = client.get("/bench/trivial")
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert response["X-Frame-Options"] == "DENY"  # went through the middleware stack like any view
    assert client.get("/api/v1/runs").status_code == 401  # the production routes are all still there
