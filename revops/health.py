"""Liveness and readiness probes: ``/healthz`` and ``/readyz``, answered by a middleware placed
first so that a probe is never refused by ``ALLOWED_HOSTS`` (load balancers and Kubernetes probe
by IP address), never redirected to https, and never touches sessions or authentication.

``/healthz`` (liveness) answers 200 JSON without touching the database: the process serves.

``/readyz`` (readiness) answers 200 when every check passes, else 503, always JSON
(``{"status": "ready"|"not_ready", "reasons": [...], "checks": {...}}``):

- ``database``: a connection and ``SELECT 1`` (with ``DB_CONNECT_TIMEOUT``); an outage is a 503
  naming the error class, never a 500 (the message, which may name hosts and users, is logged);
- ``migrations``: no unapplied migration (remembered once true, per process);
- ``queue``: age in seconds of the oldest queued run and of the oldest due queued action; older
  than ``READYZ_MAX_QUEUE_AGE_SECONDS`` means the workers are not keeping up;
- ``workers``: django-q2 clusters from their heartbeat stats (saved every 0.5 s, expiring after
  3 s, in the ``django_q`` cache, a database table shared by every machine); none alive is a
  reason only when ``READYZ_REQUIRE_WORKER`` is on.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connections
from django.http import JsonResponse
from django.utils import timezone

logger = logging.getLogger(__name__)

HEALTHZ_PATH = "/healthz"
READYZ_PATH = "/readyz"
_migrations_applied: set[str] = set()  # database aliases known to be fully migrated


class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/readyz`` (GET or HEAD) before any other middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info.rstrip("/") or "/"
        if path not in (HEALTHZ_PATH, READYZ_PATH):
            return self.get_response(request)
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse({"detail": "Method not allowed."}, status=405)
            response["Allow"] = "GET, HEAD"
            return response
        body, status = ({"status": "ok"}, 200) if path == HEALTHZ_PATH else readiness()
        response = JsonResponse(body, status=status)
        response["Cache-Control"] = "no-store"
        return response


def readiness(alias: str | None = None) -> tuple[dict, int]:
    """Run the readiness checks against database ``alias`` (``READYZ_DATABASE``); return
    ``(body, status)``. Never raises: a failing check becomes a reason."""
    alias = alias or settings.READYZ_DATABASE
    started = time.monotonic()
    reasons: list[str] = []
    checks: dict = {}
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {"ok": True}
    except DatabaseError as exc:
        logger.warning("readiness: database %r unreachable: %s", alias, _one_line(exc))
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        reasons.append(f"database unreachable ({type(exc).__name__}; details in the server log)")
        _discard(connection)
    else:
        for name, check in (("migrations", _check_migrations), ("queue", _check_queue), ("workers", _check_workers)):
            try:
                checks[name] = check(connection, reasons)
            except DatabaseError as exc:
                logger.warning("readiness: %s check failed: %s", name, _one_line(exc))
                checks[name] = {"ok": False, "error": type(exc).__name__}
                reasons.append(f"{name} check failed ({type(exc).__name__}; details in the server log)")
                _discard(connection)
            except Exception as exc:  # a probe must answer JSON whatever happens
                logger.exception("readiness check %s failed", name)
                checks[name] = {"ok": False, "error": type(exc).__name__}
                reasons.append(f"{name} check failed: {type(exc).__name__}")
    body = {
        "status": "not_ready" if reasons else "ready",
        "reasons": reasons,
        "checks": checks,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    return body, 503 if reasons else 200


def _check_migrations(connection, reasons: list[str]) -> dict:
    if connection.alias in _migrations_applied:
        return {"ok": True, "unapplied": []}
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    unapplied = [f"{migration.app_label}.{migration.name}" for migration, backwards in plan if not backwards]
    if unapplied:
        shown = ", ".join(unapplied[:5]) + (f" and {len(unapplied) - 5} more" if len(unapplied) > 5 else "")
        reasons.append(f"{len(unapplied)} unapplied migration(s): {shown}")
        return {"ok": False, "unapplied": unapplied}
    _migrations_applied.add(connection.alias)
    return {"ok": True, "unapplied": []}


def _check_queue(connection, reasons: list[str]) -> dict:
    from django.db.models import Count, Min, Q
    from django.db.models.functions import Coalesce

    from actions.models import Action, ActionStatus
    from agents.models import Run, RunStatus

    now = timezone.now()
    runs = Run.objects.unscoped().using(connection.alias).filter(status=RunStatus.QUEUED).aggregate(n=Count("pk"), oldest=Min("queued_at"))
    # A queued action waiting for its backoff is not late; one that is due is, since it fell due.
    actions = (
        Action.objects.unscoped()
        .using(connection.alias)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=ActionStatus.QUEUED)
        .aggregate(n=Count("pk"), oldest=Min(Coalesce("next_attempt_at", "created_at")))
    )
    limit = settings.READYZ_MAX_QUEUE_AGE_SECONDS
    result = {
        "ok": True,
        "queued_runs": runs["n"],
        "oldest_queued_run_age_seconds": _age(now, runs["oldest"]),
        "due_actions": actions["n"],
        "oldest_queued_action_age_seconds": _age(now, actions["oldest"]),
        "max_age_seconds": limit,
    }
    for what, key in (("run", "oldest_queued_run_age_seconds"), ("action", "oldest_queued_action_age_seconds")):
        if limit and result[key] is not None and result[key] > limit:
            result["ok"] = False
            reasons.append(f"the oldest queued {what} has waited {result[key]:.0f} s (limit {limit} s): are the workers running?")
    return result


def _check_workers(connection, reasons: list[str]) -> dict:
    from django_q.brokers import get_broker
    from django_q.status import Stat

    stats = Stat.get_all(broker=get_broker())
    now = timezone.now()
    clusters = [
        {
            "cluster_id": str(stat.cluster_id),
            "host": stat.host,
            "status": stat.status,
            "workers": len(stat.workers),
            "seconds_since_heartbeat": _age(now, stat.timestamp),
        }
        for stat in stats
    ]
    ok = bool(clusters) or not settings.READYZ_REQUIRE_WORKER
    if not clusters and settings.READYZ_REQUIRE_WORKER:
        reasons.append("no django-q2 worker cluster has reported a heartbeat in the last 3 s")
    return {"ok": ok, "required": settings.READYZ_REQUIRE_WORKER, "clusters": clusters}


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
