"""Intake profile: SQL statements per request and a cProfile of ``POST /api/v1/runs`` in one process.

Run ``python -m benchmarks.intake_profile`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench_profile`` on the embedded PostgreSQL server (never
   the dev database), migrates it and creates a tenant with an API key (``manage.py``);
2. loads Django in this process against that database with the production settings (DEBUG off,
   persistent connections, the ORM broker unless ``Q_BROKER_URL`` is set, throttling on so its
   cost is counted, ``LOG_LEVEL=WARNING``) and sends requests through the full WSGI handler
   (middleware included) with Django's test client; no worker runs, so runs stay queued;
3. prints the SQL statements of one warm request without and one with an ``Idempotency-Key``,
   the mean wall time per request over ``--requests`` requests, and the top functions of a
   cProfile of them by cumulative time;
4. drops the database.

The figures are for one thread with no concurrency (what one request costs), not throughput:
``benchmarks.intake`` measures that. Loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time

from benchmarks.harness import ROOT, drop_database, manage, recreate_database, server_env

DATABASE = "revops_bench_profile"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake_profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="profiled requests (default 300)")
    parser.add_argument("--top", type=int, default=40, help="profile rows printed (default 40)")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"], help="profile order (default cumulative)")
    args = parser.parse_args(argv)
    if not (1 <= args.requests <= 20_000 and 1 <= args.top <= 500):
        parser.error("requests 1-20000, top 1-500")

    recreate_database(DATABASE)
    env = server_env(DATABASE, API_THROTTLE_WRITE_RATE="100000/min", API_THROTTLE_READ_RATE="100000/min")
    try:
        print(f"setting up database {DATABASE} (migrate, tenant, API key)...", flush=True)
        manage("migrate", "--noinput", env=env)
        manage("createcachetable", env=env)
        manage("tenant_create", "bench", "--name", "Benchmark", env=env)
        key = manage("apikey_create", "--tenant", "bench", "--name", "bench", env=env).strip().splitlines()[-1]
        os.environ.clear()
        os.environ.update(env)
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
        body = json.dumps({"query": "What is the win rate by sector?"})

        def post(**headers) -> None:
            r = client.post("/api/v1/runs", data=body, content_type="application/json", **headers)
            if r.status_code != 202:
                raise SystemExit(f"POST /api/v1/runs answered {r.status_code}: {r.content[:500]!r}")

        for _ in range(5):  # warm: imports, the persistent connection, caches
            post()
        for label, headers in (("without Idempotency-Key", {}), ("with Idempotency-Key", {"HTTP_IDEMPOTENCY_KEY": "profile-1"})):
            with CaptureQueriesContext(connection) as captured:
                post(**headers)
            print(f"\nSQL statements per request {label}: {len(captured.captured_queries)}")
            for q in captured.captured_queries:
                print(f"  {q['sql'][:150]}")

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            post()
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"\n{args.requests} requests in {elapsed:.2f} s under the profiler: {elapsed / args.requests * 1000:.2f} ms each "
              f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
        connection.close()
        return 0
    finally:
        drop_database(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
