"""Run latency benchmark: enqueue-to-finished time of a simple question at low load, per broker.

Run ``python -m benchmarks.run_latency`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench_latency`` on the embedded PostgreSQL server (never
   the dev database), migrates it and runs ``manage.py demo`` (demo tenant, offline LLM, API key);
2. starts ``manage.py serve`` (gunicorn and its django-q2 worker) with the default ORM broker
   and sends ``--runs`` questions (default 20) **one at a time** through ``POST /api/v1/runs``,
   waiting for each to finish (read from the database every 5 ms) and a random 0-250 ms (so
   arrivals are not in step with the ORM broker's poll) before sending the next;
3. when ``redis-server`` is on the PATH, starts one on a free loopback port (no persistence) and
   does the same with ``Q_BROKER_URL=redis://…``;
4. prints, per broker, p50/p95 (ms) of enqueue-to-finished (``finished_at - enqueued_at``, the
   server's own timestamps), split into queue wait (``started_at - enqueued_at``) and execution
   (``finished_at - started_at``), and the client's POST-to-finished; then stops everything and
   drops the database and the warehouse roles made for it.

One run at a time isolates the queue's own latency (the ORM broker polls every
``Q_POLL_SECONDS``; Redis pushes). Loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass

import httpx

from benchmarks.harness import (
    RedisServer, add_server_args, database_uri, drop_database, pct, recreate_database, server_env, set_up_demo,
    start_redis, start_server, stop_server, web_settings,
)

DATABASE = "revops_bench_latency"
QUERY = "What is the win rate by sector?"


@dataclass
class Sample:
    """One run's timings in milliseconds."""

    total: float  # finished_at - enqueued_at
    wait: float  # started_at - enqueued_at
    execute: float  # finished_at - started_at
    client: float  # POST sent -> finished seen by the client
    status: str


def _measure(base: str, key: str, db_uri: str, *, runs: int, query: str, timeout: float) -> list[Sample]:
    """Send ``runs`` questions one at a time; each waits for the previous to finish."""
    import psycopg

    headers = {"Authorization": f"Bearer {key}"}
    samples: list[Sample] = []
    with httpx.Client(timeout=30) as client, psycopg.connect(db_uri, autocommit=True) as conn:
        for _ in range(runs):
            time.sleep(random.uniform(0, 0.25))  # arrivals not phase-locked to the ORM broker's poll
            t0 = time.perf_counter()
            r = client.post(f"{base}/api/v1/runs", json={"query": query}, headers=headers)
            if r.status_code != 202:
                raise SystemExit(f"POST /api/v1/runs answered {r.status_code}: {r.text[:300]}")
            tracking_id = r.json()["tracking_id"]
            deadline = time.monotonic() + timeout
            while True:
                row = conn.execute(
                    "SELECT enqueued_at, started_at, finished_at, status FROM agents_run WHERE tracking_id = %s", [tracking_id]
                ).fetchone()
                if row and row[2] is not None:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"run {tracking_id} did not finish within {timeout} s (is the worker running?)")
                time.sleep(0.005)
            client_ms = (time.perf_counter() - t0) * 1000
            enqueued, started, finished, status = row
            ms = lambda a, b: (b - a).total_seconds() * 1000  # noqa: E731
            samples.append(Sample(ms(enqueued, finished), ms(enqueued, started), ms(started, finished), client_ms, status))
    return samples


def _report(label: str, samples: list[Sample]) -> None:
    statuses = {s.status for s in samples}
    print(f"\n{label}: {len(samples)} runs one at a time, statuses {sorted(statuses)}")
    for name, values in (
        ("enqueue->finished", [s.total for s in samples]),
        ("  queue wait", [s.wait for s in samples]),
        ("  execution", [s.execute for s in samples]),
        ("client POST->seen", [s.client for s in samples]),
    ):
        print(f"  {name:<20} p50 {pct(values, 0.5):7.1f} ms   p95 {pct(values, 0.95):7.1f} ms   mean {statistics.fmean(values):7.1f} ms")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per broker, one at a time (default 20)")
    parser.add_argument("--query", default=QUERY, help=f"the question (default {QUERY!r})")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one run (default 60)")
    parser.add_argument("--no-redis", action="store_true", help="only the ORM broker")
    add_server_args(parser, warmup=3, warmup_help="runs per broker before measuring")
    args = parser.parse_args(argv)
    if not (1 <= args.runs <= 200 and 0 <= args.warmup <= 20 and 1 <= args.timeout <= 600):
        parser.error("runs 1-200, warmup 0-20, timeout 1-600")

    recreate_database(DATABASE)
    db_uri = database_uri(DATABASE)
    env = server_env(DATABASE, **web_settings(args))
    proc = None
    redis: RedisServer | None = None
    results: list[tuple[str, list[Sample]]] = []
    try:
        print(f"setting up database {DATABASE} (migrate, demo tenant)...", flush=True)
        key = set_up_demo(env)
        brokers: list[tuple[str, dict[str, str]]] = [(f"ORM broker (poll every {env.get('Q_POLL_SECONDS', '0.2')} s)", {})]
        if not args.no_redis:
            redis = start_redis()
            if redis is None:
                print("redis-server is not installed: the Redis broker is skipped")
            else:
                brokers.append(("Redis broker", {"Q_BROKER_URL": redis.url}))
        for label, extra in brokers:
            proc, base = start_server({**env, **extra}, worker=True)
            if args.warmup:
                _measure(base, key, db_uri, runs=args.warmup, query=args.query, timeout=args.timeout)
            results.append((label, _measure(base, key, db_uri, runs=args.runs, query=args.query, timeout=args.timeout)))
            stop_server(proc)
            proc = None
        load = os.getloadavg()
        print(f"\nquestion {args.query!r}; {os.cpu_count()} CPU(s), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for label, samples in results:
            _report(label, samples)
        print("\ntarget: enqueue->finished p50 < 250 ms at low load")
        return 0
    finally:
        stop_server(proc)
        if redis is not None:
            redis.stop()
        drop_database(DATABASE, roles=True)


if __name__ == "__main__":
    sys.exit(main())
