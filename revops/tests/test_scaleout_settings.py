"""Scale-out settings: persistent database connections with health checks by default, and
Q_BROKER_URL choosing django-q2's Redis broker (the ORM broker otherwise). Checked in
subprocesses (settings are read once per process); nothing connects to the URLs named here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django_q.brokers import get_broker
db = settings.DATABASES["default"]
print(json.dumps({
    "conn_max_age": db["CONN_MAX_AGE"], "health_checks": db["CONN_HEALTH_CHECKS"],
    "no_ss_cursors": db["DISABLE_SERVER_SIDE_CURSORS"], "q_broker": settings.Q_BROKER,
    "orm": settings.Q_CLUSTER.get("orm"), "redis": settings.Q_CLUSTER.get("redis"),
    # The ORM broker touches the database when built; only Redis connects lazily.
    "broker_class": type(get_broker()).__name__ if settings.Q_BROKER == "redis" else None, "poll": settings.Q_CLUSTER["poll"],
    "url_setting": hasattr(settings, "Q_BROKER_URL"),
}))
"""


def _probe(**extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REVOPS_", "DATABASE_", "DB_", "Q_"))}
    env.update({"DJANGO_SETTINGS_MODULE": "revops.settings", "DATABASE_URL": "postgres://app:pw@127.0.0.1:9/revops", **extra})
    return subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def _out(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_defaults_persistent_connections_and_the_orm_broker():
    out = _out(_probe())
    assert out["conn_max_age"] == 60 and out["health_checks"] is True and out["no_ss_cursors"] is False
    assert out["q_broker"] == "orm" and out["orm"] == "default" and out["redis"] is None
    assert out["poll"] == 0.2


def test_redis_broker_and_pgbouncer_options():
    out = _out(_probe(Q_BROKER_URL="redis://:s3cret@127.0.0.1:9/2", DB_CONN_MAX_AGE="0", DB_DISABLE_SERVER_SIDE_CURSORS="1"))
    assert out["q_broker"] == "redis" and out["orm"] is None and out["redis"] == "redis://:s3cret@127.0.0.1:9/2"
    assert out["broker_class"] == "Redis"
    assert out["url_setting"] is False  # the URL (with its password) is not a setting of its own
    assert out["conn_max_age"] == 0 and out["no_ss_cursors"] is True


def test_bad_values_fail_loudly_without_echoing_the_url():
    done = _probe(Q_BROKER_URL="amqp://user:s3cret@mq:5672/")
    assert done.returncode != 0 and "Q_BROKER_URL must be a redis://" in done.stderr and "s3cret" not in done.stderr
    done = _probe(DB_CONN_MAX_AGE="-1")
    assert done.returncode != 0 and "DB_CONN_MAX_AGE" in done.stderr
