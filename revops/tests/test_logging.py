"""Structured logs: JSON lines with time, level, logger, message, tenant, run and action ids;
secrets (tokens, keys, DSN passwords) never appear, in the message, a traceback or an extra."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings

from agents.services import run_create
from agents.tasks import execute_run
from revops.lib.redact import RedactingFilter
from revops.logs import ContextFilter, JsonFormatter, TextFormatter, log_context
from tenants.context import tenant_context
from tenants.models import Tenant

SLACK_TOKEN = "xoxb-1234567890-abcdefghijklmnop"
DSN_PASSWORD = "dsn-pw-s3cret"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_lines():
    """Records of every logger as JSON lines, through the filters and formatter LOGGING uses."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_logging_settings_use_the_filters_in_order():
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["filters"] == ["context", "redact"]
    assert handler["formatter"] == ("json" if settings.PRODUCTION else "text") == settings.LOG_FORMAT


@pytest.mark.django_db
@override_settings(ACTIONS_RETRY_BASE_SECONDS=0)
def test_a_run_logs_json_lines_with_tenant_and_run_id_and_no_secret(world_a, json_lines):
    # The callback URL carries a token; the callback fails (nothing listens on port 9) and is
    # logged by the webhook action, which runs inside the run.
    run = run_create(
        tenant=world_a.tenant, channel="api", query="hello", enqueue=False,
        callback_url=f"http://127.0.0.1:9/hook?token={SLACK_TOKEN}",
    )
    execute_run(run.pk)
    lines = json_lines()
    run_lines = [line for line in lines if line.get("run_id") == run.pk]
    assert run_lines, lines
    finished = next(line for line in run_lines if line["logger"] == "agents.services")
    assert finished["tenant"] == "acme-a"
    assert finished["message"].startswith(f"run {run.pk} ")
    assert finished["level"] == "INFO"
    assert finished["time"].endswith("+00:00") and "T" in finished["time"]
    action_lines = [line for line in run_lines if line.get("action_id")]
    assert action_lines and all(line["tenant"] == "acme-a" for line in action_lines)
    assert all("context" not in line for line in lines)  # the text formatter's field stays there
    text = "\n".join(json.dumps(line) for line in lines)
    assert SLACK_TOKEN not in text


def test_json_log_redacts_message_traceback_and_extras(json_lines):
    logger = logging.getLogger("revops.tests.logging")
    with tenant_context(Tenant(slug="acme-x", name="X")), log_context(run_id=41, action_id=7):
        logger.info("connecting to postgresql://app:%s@db:5432/revops with %s", DSN_PASSWORD, SLACK_TOKEN,
                    extra={"api_key": "plain-key-value-123", "target": f"Bearer {SLACK_TOKEN}"})
        try:
            raise RuntimeError(f"auth failed for {SLACK_TOKEN}")
        except RuntimeError:
            logger.exception("boom")
    logger.info("outside")
    first, second, outside = json_lines()
    assert first["tenant"] == "acme-x" and first["run_id"] == 41 and first["action_id"] == 7
    assert first["api_key"] == "[REDACTED]"
    assert "exc_info" in second and "RuntimeError" in second["exc_info"]
    assert "tenant" not in outside and "run_id" not in outside and "action_id" not in outside
    dumped = json.dumps([first, second, outside])
    for secret in (SLACK_TOKEN, DSN_PASSWORD, "plain-key-value-123"):
        assert secret not in dumped


def test_text_format_names_the_context():
    record = logging.LogRecord("agents.services", logging.INFO, __file__, 1, "run %s done", (5,), None)
    with tenant_context(Tenant(slug="acme-x", name="X")), log_context(run_id=5):
        ContextFilter().filter(record)
    line = TextFormatter().format(record)
    assert " INFO agents.services [tenant=acme-x run=5] run 5 done" in line


def test_log_format_json_from_the_environment_in_a_fresh_process():
    """The real settings: LOG_FORMAT=json gives JSON lines on stderr, redacted."""
    code = (
        "import django, logging; django.setup()\n"
        "from revops.logs import log_context\n"
        "with log_context(run_id=3):\n"
        f"    logging.getLogger('agents.services').warning('token %s', {SLACK_TOKEN!r})\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "revops.settings", "LOG_FORMAT": "json",
           "DATABASE_URL": f"postgres://app:{DSN_PASSWORD}@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert line["level"] == "WARNING" and line["logger"] == "agents.services" and line["run_id"] == 3
    assert line["message"] == "token [REDACTED]"
    assert SLACK_TOKEN not in done.stderr and DSN_PASSWORD not in done.stderr

    bad = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=ROOT,
                         env={**env, "LOG_FORMAT": "xml"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "LOG_FORMAT must be json or text" in bad.stderr
