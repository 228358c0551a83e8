"""REVOPS_PRODUCTION=1 turns on https-only cookies and HSTS, refuses DEBUG and scheme-less CSRF
origins, and passes `check --deploy` but for the two opt-ins; checked in subprocesses, since
settings are read once per process. Nothing connects to the database named here."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
names = ["SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
         "SECURE_SSL_REDIRECT", "CSRF_TRUSTED_ORIGINS", "SECURE_PROXY_SSL_HEADER", "DEBUG"]
out = {n: getattr(settings, n, None) for n in names}
client = Client()
out["hsts_https"] = client.get("/api/v1/schema", secure=True).headers.get("Strict-Transport-Security")
out["hsts_http"] = client.get("/api/v1/schema").headers.get("Strict-Transport-Security")
out["hsts_forwarded"] = client.get("/api/v1/schema", HTTP_X_FORWARDED_PROTO="https").headers.get("Strict-Transport-Security")
print(json.dumps(out))
"""


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REVOPS_", "DATABASE_"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "revops.settings",
        "REVOPS_PRODUCTION": "1",
        "DATABASE_URL": "postgres://app:pw@127.0.0.1:9/revops",  # never connected to
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DJANGO_ALLOWED_HOSTS": "revops.example.com,testserver",
        **extra,
    }


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_production_sets_secure_cookies_and_hsts():
    done = _run([sys.executable, "-c", PROBE], _env(DJANGO_CSRF_TRUSTED_ORIGINS="https://revops.example.com"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["SESSION_COOKIE_SECURE"] is True and out["CSRF_COOKIE_SECURE"] is True
    assert out["SECURE_HSTS_SECONDS"] == 31_536_000 and out["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert out["SECURE_SSL_REDIRECT"] is False and out["DEBUG"] is False
    assert out["CSRF_TRUSTED_ORIGINS"] == ["https://revops.example.com"]
    assert out["SECURE_PROXY_SSL_HEADER"] is None  # trusting X-Forwarded-Proto is opt-in
    assert out["hsts_https"] == "max-age=31536000" and out["hsts_http"] is None and out["hsts_forwarded"] is None


def test_production_behind_a_tls_proxy_trusts_x_forwarded_proto_when_told():
    done = _run([sys.executable, "-c", PROBE], _env(DJANGO_SECURE_PROXY_SSL_HEADER="1", DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="1"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert out["hsts_forwarded"] == "max-age=31536000; includeSubDomains"


def test_development_keeps_plain_http_cookies():
    env = _env()
    env.pop("REVOPS_PRODUCTION")
    done = _run([sys.executable, "-c", PROBE], env)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["SESSION_COOKIE_SECURE"] is False and out["SECURE_HSTS_SECONDS"] == 0 and out["hsts_https"] is None


def test_check_deploy_passes_but_for_the_hsts_opt_ins():
    done = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], _env(DJANGO_SECURE_SSL_REDIRECT="1"))
    warnings = set(re.findall(r"\(security\.(W\d+)\)", done.stdout + done.stderr))
    assert warnings <= {"W005", "W021"}, done.stdout + done.stderr  # includeSubDomains, preload: the operator's call


def test_production_refuses_debug_and_scheme_less_csrf_origins():
    debug = _run([sys.executable, "-c", "import django; django.setup()"], _env(DJANGO_DEBUG="1"))
    assert debug.returncode != 0 and "DJANGO_DEBUG must be off when REVOPS_PRODUCTION=1" in debug.stderr
    origins = _run([sys.executable, "-c", "import django; django.setup()"], _env(DJANGO_CSRF_TRUSTED_ORIGINS="revops.example.com"))
    assert origins.returncode != 0 and "need a scheme" in origins.stderr
