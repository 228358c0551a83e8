"""Liveness and readiness probes: ``/healthz`` and ``/readyz``, answered by a middleware placed
first so that a probe is never refused by ``ALLOWED_HOSTS`` (load balancers and Kubernetes probe
by IP address), never redirected to https, and never touches sessions or authentication.

``/healthz`` (liveness) answers 200 JSON without touching the database: the process serves.

``/readyz`` (readiness: "this process can serve requests") answers 200 or 503, always JSON.
What decides the 503:

- ``database``: a connection and ``SELECT 1`` (with ``DB_CONNECT_TIMEOUT``); an outage is a 503,
  never a 500 (the driver's message, which may name hosts and users, is logged at WARNING only);
- ``migrations``: no unapplied migration (remembered once true, per process).

Reported for information, failing readiness only when opted in (a backlog or a stopped worker
must not take every web process out of the load balancer):

- ``queue``: :func:`queue_snapshot` (shared with ``/metrics``): queued runs and the age of the
  oldest, queued actions, how many are due and the age of the oldest due one (seconds since it
  fell due). ``READYZ_MAX_QUEUE_AGE_SECONDS`` > 0 makes an older one a reason (default 0: off);
- ``workers``: django-q2 clusters from their heartbeat stats (saved every 0.5 s, expiring after
  3 s; in Redis with the Redis broker, else in the ``django_q`` cache, the ``revops_cache``
  database table: either way shared by every machine). ``READYZ_REQUIRE_WORKER=1`` makes "none
  alive" a reason (default off).
- ``connectors``: tenants' connectors marked unhealthy (:func:`_check_connectors`); never a reason.

Public answer: ``{"status": "ready"|"not_ready", "reasons": [<short code>, ...]}`` with codes
``database_unreachable``, ``migrations_unapplied``, ``<check>_check_failed``, ``queue_stale``,
``no_worker``. The full ``checks`` (hosts, cluster ids, counts, migration names) and
``duration_ms`` are added only for a request carrying the metrics bearer token
(``Authorization: Bearer <METRICS_TOKEN>``, :func:`metrics_token_ok`).

Probe responses are marked as logged (``_has_been_logged``): a failing probe is logged here at
WARNING with its reason, not again by ``django.request`` at ERROR.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from actions.models import Action, ActionStatus
from agents.models import Run, RunStatus
from integrations.health import connectors_unhealthy
from revops.lib.api import error_json
from revops.lib.queue import queue_broker

logger = logging.getLogger(__name__)

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
_migrations_applied: set[str] = set()  # database aliases known to be fully migrated


def metrics_token_ok(request: HttpRequest) -> bool:
    """True when ``METRICS_TOKEN`` is set and ``request`` carries ``Authorization: Bearer <it>``
    (compared in constant time). Used by ``/metrics`` and by ``/readyz`` for its full report."""
    token: str = getattr(settings, "METRICS_TOKEN", "") or ""
    if not token:
        return False
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())



class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/readyz`` (GET or HEAD) before any other middleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info.rstrip("/") or "/"
        if path not in (HEALTHZ_PATH, READYZ_PATH):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response: HttpResponse = error_json(405, "method_not_allowed", "Use GET or HEAD.")
            response["Allow"] = "GET, HEAD"
        elif path == HEALTHZ_PATH:
            response = JsonResponse({"status": "ok"})
        else:
            body, status = readiness()
            if not metrics_token_ok(request):
                body = {"status": body["status"], "reasons": body["reasons"]}
            response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
        response._has_been_logged = True  # a failing probe is logged above at WARNING, not as an ERROR
        return response


def readiness(alias: str | None = None) -> tuple[dict[str, Any], int]:
    """Run the readiness checks against database ``alias`` (``READYZ_DATABASE``); return
    ``(body, status)`` with body ``{"status", "reasons": [codes], "checks": {...}, "duration_ms"}``
    (the caller strips ``checks`` for the public). Never raises: a failing check becomes a reason."""
    alias = alias or settings.READYZ_DATABASE
    started = time.monotonic()
    reasons: list[str] = []
    checks: dict[str, Any] = {}
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError as exc:
        logger.warning("readiness: database %r unreachable: %s", alias, _one_line(exc))
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        reasons.append("database_unreachable")
        _discard(connection)
    else:
        required = {"migrations": True, "queue": bool(settings.READYZ_MAX_QUEUE_AGE_SECONDS), "workers": settings.READYZ_REQUIRE_WORKER, "connectors": False}
        for name, check in (("migrations", _check_migrations), ("queue", _check_queue), ("workers", _check_workers), ("connectors", _check_connectors)):
            try:
                checks[name] = check(connection, reasons)
            except Exception as exc:  # a probe must answer JSON whatever happens
                if isinstance(exc, DatabaseError):
                    logger.warning("readiness: %s check failed: %s", name, _one_line(exc))
                    _discard(connection)
                else:
                    logger.exception("readiness check %s failed", name)
                checks[name] = {"ok": False, "error": type(exc).__name__, "required": required[name]}
                if required[name]:
                    reasons.append(f"{name}_check_failed")
    body = {
        "status": "not_ready" if reasons else "ready",
        "reasons": reasons,
        "checks": checks,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return body, 503 if reasons else 200


def _check_migrations(connection, reasons: list[str]) -> dict[str, Any]:
    if connection.alias in _migrations_applied:
        return {"ok": True, "unapplied": []}
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    unapplied = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
    if unapplied:
        logger.warning("readiness: %d unapplied migration(s): %s", len(unapplied), ", ".join(unapplied[:20]))
        reasons.append("migrations_unapplied")
        return {"ok": False, "unapplied": unapplied}
    _migrations_applied.add(connection.alias)
    return {"ok": True, "unapplied": []}


def queue_snapshot(using: str = "default") -> dict[str, Any]:
    """Queue depth and oldest ages, the one definition used by ``/readyz`` and ``/metrics``.

    Returns ``{"queued_runs": int, "oldest_queued_run_age_seconds": float | None,
    "queued_actions": int, "due_actions": int, "oldest_due_action_age_seconds": float | None}``,
    all tenants (an operator view, through ``.unscoped()``). Ages are seconds, ``None`` when
    nothing qualifies. A run waits from ``queued_at``; an action waiting for its retry backoff
    (``next_attempt_at`` in the future) is counted in ``queued_actions`` but is not late: the
    oldest due action's age runs from ``next_attempt_at`` (or ``created_at`` on a first attempt).
    Two queries. Raises ``django.db.Error`` when the database fails.
    """
    now = timezone.now()
    runs = Run.objects.unscoped().using(using).filter(status=RunStatus.QUEUED).aggregate(n=Count("pk"), oldest=Min("queued_at"))
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    actions = (
        Action.objects.unscoped()
        .using(using)
        .filter(status=ActionStatus.QUEUED)
        .aggregate(n=Count("pk"), due=Count("pk", filter=due), oldest=Min(Coalesce("next_attempt_at", "created_at"), filter=due))
    )
    return {
        "queued_runs": runs["n"],
        "oldest_queued_run_age_seconds": _age(now, runs["oldest"]),
        "queued_actions": actions["n"],
        "due_actions": actions["due"],
        "oldest_due_action_age_seconds": _age(now, actions["oldest"]),
    }


def _check_queue(connection, reasons: list[str]) -> dict[str, Any]:
    snapshot = queue_snapshot(connection.alias)
    limit = settings.READYZ_MAX_QUEUE_AGE_SECONDS
    result: dict[str, Any] = {"ok": True, **snapshot, "max_age_seconds": limit, "required": bool(limit)}
    for what, key in (("run", "oldest_queued_run_age_seconds"), ("action", "oldest_due_action_age_seconds")):
        if limit and snapshot[key] is not None and snapshot[key] > limit:
            result["ok"] = False
            logger.warning("readiness: the oldest queued %s has waited %.0f s (limit %s s)", what, snapshot[key], limit)
    if not result["ok"]:
        reasons.append("queue_stale")
    return result


def worker_clusters() -> list[dict[str, Any]]:
    """Live django-q2 clusters from their heartbeat stats: ``[{"cluster_id", "host", "status",
    "workers": int, "seconds_since_heartbeat": float}]`` (empty when none reported in 3 s)."""
    from django_q.status import Stat

    now = timezone.now()
    return [
        {
            "cluster_id": str(stat.cluster_id),
            "host": stat.host,
            "status": stat.status,
            "workers": len(stat.workers),
            "seconds_since_heartbeat": _age(now, stat.timestamp),
        }
        for stat in Stat.get_all(broker=queue_broker())
    ]


def _check_workers(connection, reasons: list[str]) -> dict[str, Any]:
    clusters = worker_clusters()
    required = settings.READYZ_REQUIRE_WORKER
    if not clusters and required:
        logger.warning("readiness: no django-q2 worker cluster has reported a heartbeat in the last 3 s")
        reasons.append("no_worker")
    return {"ok": bool(clusters) or not required, "required": required, "clusters": clusters}


def _check_connectors(connection, reasons: list[str]) -> dict[str, Any]:
    """Tenants' connectors that failed ``CONNECTOR_UNHEALTHY_AFTER_FAILURES`` times in a row
    (:func:`integrations.health.connectors_unhealthy`: tenant slug, kind, name, counts and times,
    no error text, no secret). Reported only: one tenant's broken connector must not take every
    web process out of the load balancer."""
    unhealthy = connectors_unhealthy(connection.alias)
    return {"ok": not unhealthy, "required": False, "unhealthy": unhealthy}


def _age(now, then) -> float | None:
    return None if then is None else round(max(0.0, (now - then).total_seconds()), 1)


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _discard(connection) -> None:
    """Drop a broken connection so the next probe reconnects."""
    try:
        connection.close()
    except DatabaseError:
        pass
