"""Prometheus metrics on ``/metrics``, refused unless the scraper presents ``METRICS_TOKEN``.

Two kinds of series are exposed:

- **per process** (django-prometheus middleware and database wrapper: requests, latencies,
  responses by status, queries, errors; plus ``process_*`` and ``python_*``). With several
  gunicorn workers each scrape reaches one worker and sees its counters only, unless
  ``PROMETHEUS_MULTIPROC_DIR`` names an empty directory shared by the workers (then they are
  summed across processes; see README, "Metrics").
- **computed at scrape time from the database** (:class:`DatabaseCollector`), the same whichever
  process answers: runs by tenant and status, run latency histograms, queue depth, actions by
  tenant and status, LLM tokens by tenant. These read every tenant's rows on purpose (an operator
  view), through ``.unscoped()``.

The database families are computed at most once per ``METRICS_CACHE_SECONDS`` (10 s by default,
about a scrape interval; 0 turns the cache off) and kept in the ``default`` cache: with a cache
shared by the replicas (Redis, see README) one scrape of any of them reads the runs table, the
others reuse the text.

Access: ``Authorization: Bearer <METRICS_TOKEN>``. Without ``METRICS_TOKEN`` set the endpoint is
off (403); a missing or wrong token is 401. Both answer JSON in the API's error shape. The same
token unlocks the full ``/readyz`` report (:func:`revops.health.metrics_token_ok`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Iterable, Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from actions.models import Action
from agents.models import Run, RunStatus
from revops.health import metrics_token_ok, queue_snapshot, worker_clusters
from revops.lib.api import error_json
from tenants.models import Tenant

logger = logging.getLogger(__name__)
CACHE_KEY = "revops:metrics:database"

# Upper bounds (seconds) of the run latency buckets: the offline path answers in well under a
# second, LLM runs in tens of seconds, and RUN_BUDGET_SECONDS (90 by default) caps a run.
RUN_LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 90, 120, 300)


def _error(status: int, code: str, detail: str) -> JsonResponse:
    """A refusal in the API's error shape (``revops.lib.api.error_json``)."""
    response = error_json(status, code, detail)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


def _authorized(request: HttpRequest) -> JsonResponse | None:
    """None when the request carries the metrics token, else the refusal to return."""
    if not (getattr(settings, "METRICS_TOKEN", "") or ""):
        return _error(403, "metrics_disabled", "Metrics are off: set METRICS_TOKEN and scrape with Authorization: Bearer <token>.")
    if not metrics_token_ok(request):
        return _error(401, "not_authenticated", "Send Authorization: Bearer <METRICS_TOKEN>.")
    return None


def _process_registry() -> CollectorRegistry:
    """This process's registry, or, in multiprocess mode, one summing every worker's files."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


@csrf_exempt
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """``GET /metrics``: Prometheus text exposition (``text/plain; version=0.0.4``).

    401/403 JSON without the right bearer token (see the module docstring). The database
    collector runs one query per family group, at most once per ``METRICS_CACHE_SECONDS``
    (:func:`database_metrics`); a database error propagates as a 500, which Prometheus records as
    a failed scrape (``up == 0``).
    """
    refused = _authorized(request)
    if refused is not None:
        return refused
    return HttpResponse(generate_latest(_process_registry()) + database_metrics(), content_type=CONTENT_TYPE_LATEST)


def database_metrics() -> bytes:
    """The :class:`DatabaseCollector` families as exposition text, reused from the ``default``
    cache for ``METRICS_CACHE_SECONDS`` (0: computed on every call)."""
    seconds: int = getattr(settings, "METRICS_CACHE_SECONDS", 10)
    if seconds:
        cached = cache.get(CACHE_KEY)
        if cached is not None:
            return cached
    text = generate_latest(_DATABASE_REGISTRY)
    if seconds:
        cache.set(CACHE_KEY, text, seconds)
    return text


class DatabaseCollector(Collector):
    """Metric families computed from the database on every scrape (all tenants).

    - ``revops_runs{tenant, status}`` gauge: runs per tenant and status (queued, running,
      succeeded, failed).
    - ``revops_run_duration_seconds`` histogram: ``finished_at - started_at`` of finished runs
      (the worker's time); ``revops_run_total_duration_seconds``: ``finished_at - queued_at``
      (what the asker waited, queue included). Cumulative over the runs kept in the database,
      so ``rate()``/``histogram_quantile()`` work as for any histogram; deleting runs looks
      like a counter reset.
    - ``revops_queue_depth{queue}`` gauge: queued runs (``queue="runs"``, the sum of
      ``revops_runs{status="queued"}``) and queued actions (``queue="actions"``, deferred retries
      included); ``revops_queue_oldest_age_seconds{queue}`` the age of the oldest queued run and
      of the oldest *due* action, from when it fell due (0 when none): the figures of
      ``/readyz``, from :func:`revops.health.queue_snapshot`.
    - ``revops_worker_clusters`` gauge: django-q2 clusters with a heartbeat in the last 3 s;
      ``revops_workers``: their worker processes (both absent when the stats cannot be read).
    - ``revops_actions{tenant, status}`` gauge: actions per tenant and status.
    - ``revops_llm_tokens_total{tenant, direction}`` counter: ``Run.usage`` input/output tokens
      summed per tenant slug (values that are not JSON numbers are skipped).
    """

    def describe(self) -> Iterable[Metric]:
        """The families without samples, so registering does not query the database."""
        return [
            GaugeMetricFamily("revops_runs", "Runs by tenant and status", labels=["tenant", "status"]),
            HistogramMetricFamily("revops_run_duration_seconds", "Run time on the worker (finished_at - started_at)"),
            HistogramMetricFamily("revops_run_total_duration_seconds", "Run time from queued to finished"),
            GaugeMetricFamily("revops_queue_depth", "Queued runs and actions", labels=["queue"]),
            GaugeMetricFamily("revops_queue_oldest_age_seconds", "Age of the oldest queued item", labels=["queue"]),
            GaugeMetricFamily("revops_actions", "Actions by tenant and status", labels=["tenant", "status"]),
            GaugeMetricFamily("revops_worker_clusters", "django-q2 clusters with a recent heartbeat"),
            GaugeMetricFamily("revops_workers", "Worker processes of the live django-q2 clusters"),
            CounterMetricFamily("revops_llm_tokens", "LLM tokens used by runs", labels=["tenant", "direction"]),
        ]

    def collect(self) -> Iterator[Metric]:
        """Query the database and yield the families described in the class docstring."""
        all_runs = Run.objects.unscoped()  # all tenants: operator metrics
        runs = GaugeMetricFamily("revops_runs", "Runs by tenant and status", labels=["tenant", "status"])
        queued_runs = 0
        for row in all_runs.values("tenant__slug", "status").annotate(n=Count("pk")).order_by():
            runs.add_metric([row["tenant__slug"], row["status"]], row["n"])
            if row["status"] == RunStatus.QUEUED:
                queued_runs += row["n"]
        yield runs

        finished = all_runs.filter(finished_at__isnull=False)
        yield _duration_histogram(
            finished.filter(started_at__isnull=False), "started_at",
            "revops_run_duration_seconds", "Run time on the worker (finished_at - started_at)",
        )
        yield _duration_histogram(finished, "queued_at", "revops_run_total_duration_seconds", "Run time from queued to finished")

        depth = GaugeMetricFamily("revops_queue_depth", "Queued runs and actions", labels=["queue"])
        oldest = GaugeMetricFamily("revops_queue_oldest_age_seconds", "Age of the oldest queued item", labels=["queue"])
        snapshot = queue_snapshot()
        depth.add_metric(["runs"], queued_runs)
        depth.add_metric(["actions"], snapshot["queued_actions"])
        oldest.add_metric(["runs"], snapshot["oldest_queued_run_age_seconds"] or 0.0)
        oldest.add_metric(["actions"], snapshot["oldest_due_action_age_seconds"] or 0.0)
        yield depth
        yield oldest

        actions = GaugeMetricFamily("revops_actions", "Actions by tenant and status", labels=["tenant", "status"])
        for row in Action.objects.unscoped().values("tenant__slug", "status").annotate(n=Count("pk")).order_by():  # all tenants: operator metrics
            actions.add_metric([row["tenant__slug"], row["status"]], row["n"])
        yield actions

        try:
            clusters = worker_clusters()
        except Exception as exc:  # the broker's stats store is down: the other families still count
            logger.warning("metrics: django-q2 cluster stats unreadable (%s)", type(exc).__name__)
        else:
            yield GaugeMetricFamily("revops_worker_clusters", "django-q2 clusters with a recent heartbeat", value=len(clusters))
            yield GaugeMetricFamily("revops_workers", "Worker processes of the live django-q2 clusters", value=sum(c["workers"] for c in clusters))

        yield _llm_tokens()


def _duration_histogram(qs, start_field: str, name: str, documentation: str) -> HistogramMetricFamily:
    """One histogram family from ``finished_at - <start_field>`` over ``qs``, counted in SQL."""
    qs = qs.annotate(_d=ExpressionWrapper(F("finished_at") - F(start_field), output_field=DurationField()))
    buckets = {f"le{i}": Count("pk", filter=Q(_d__lte=timedelta(seconds=b))) for i, b in enumerate(RUN_LATENCY_BUCKETS)}
    agg = qs.aggregate(total=Count("pk"), sum=Sum("_d"), **buckets)
    family = HistogramMetricFamily(name, documentation)
    family.add_metric(
        [],
        buckets=[(_le(b), agg[f"le{i}"]) for i, b in enumerate(RUN_LATENCY_BUCKETS)] + [("+Inf", agg["total"])],
        sum_value=agg["sum"].total_seconds() if agg["sum"] else 0.0,
    )
    return family


def _le(bound: float) -> str:
    return str(float(bound))


def _llm_tokens() -> CounterMetricFamily:
    """Sum ``usage.input_tokens`` / ``usage.output_tokens`` per tenant slug.

    Raw SQL because a JSON value that is not a number (never written by the runtime, but the
    column is free-form) must be skipped rather than fail the cast and the whole scrape.
    """
    run_table = connection.ops.quote_name(Run._meta.db_table)
    tenant_table = connection.ops.quote_name(Tenant._meta.db_table)
    parts = []
    for direction in ("input", "output"):
        key = f"{direction}_tokens"
        parts.append(
            f"COALESCE(SUM(CASE WHEN jsonb_typeof(r.usage -> '{key}') = 'number' "
            f"THEN (r.usage ->> '{key}')::numeric END), 0)"
        )
    sql = (
        f"SELECT t.slug, {parts[0]}, {parts[1]} FROM {run_table} r JOIN {tenant_table} t ON t.id = r.tenant_id "
        "GROUP BY t.slug ORDER BY t.slug"
    )
    family = CounterMetricFamily("revops_llm_tokens", "LLM tokens used by runs", labels=["tenant", "direction"])
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for slug, inp, out in cursor.fetchall():
            family.add_metric([slug, "input"], float(inp))
            family.add_metric([slug, "output"], float(out))
    return family


_DATABASE_REGISTRY = CollectorRegistry(auto_describe=True)
_DATABASE_REGISTRY.register(DatabaseCollector())
