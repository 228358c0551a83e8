"""Intake benchmark: ``POST /api/v1/runs`` beside a trivial JSON view on the same production server.

Run ``python -m benchmarks.intake`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench`` on the embedded PostgreSQL server (never the dev
   database), migrates it and creates a demo tenant with an API key;
2. starts ``manage.py serve --no-worker`` (gunicorn, DEBUG off, ``benchmarks.settings``: the
   production settings plus the trivial view ``/bench/trivial``) on a free loopback port with
   ``API_THROTTLE_WRITE_RATE=none`` and ``API_THROTTLE_READ_RATE=none``; without a worker the runs
   stay queued, so only the intake path (auth, validation, insert, enqueue) is measured;
3. drives each endpoint at a fixed concurrency (default 32), after a warm-up, for at most
   ``--requests`` requests or ``--seconds`` seconds, whichever ends first: ``POST /api/v1/runs``,
   the trivial JSON view (``{"ok": true}`` behind the whole middleware stack, the issue's
   comparator) and ``/healthz`` (answered by the second middleware, cheaper still); prints
   requests/s, p50 and p99 latency (ms), errors, the intake / trivial-view and intake /
   ``/healthz`` ratios and the resident memory (RSS, MiB) of every server process;
4. stops the server and drops the database.

The client shares the machine's cores with the server, so the figures are a floor; compare them
on the same machine only. Loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

import httpx

from benchmarks.harness import (
    TRIVIAL_PATH, Phase, add_server_args, drive, drive_ab, drop_database, manage, print_memory, recreate_database, rss, server_env, start_server,
    stop_server, web_settings,
)

DATABASE = "revops_bench"


def _median(rounds: list[Phase]) -> Phase:
    """The round with the median requests/s."""
    return sorted(rounds, key=lambda p: p.rps)[len(rounds) // 2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--requests", type=int, default=3000, help="most requests per endpoint (default 3000)")
    add_server_args(parser, seconds=20.0, warmup=200)
    parser.add_argument("--rounds", type=int, default=1, help="measure each endpoint this many times, report the median round (default 1)")
    parser.add_argument("--broker-url", default="", help="Q_BROKER_URL for the server, e.g. redis://127.0.0.1:6379/0 (default: the ORM broker)")
    parser.add_argument(
        "--client", choices=["httpx", "ab"], default="httpx",
        help="load generator: httpx (Python asyncio, default; its own CPU use caps the figures on 2 cores) or ab "
        "(ApacheBench, a C client: apt-get install apache2-utils)",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.concurrency <= 256 and 1 <= args.requests <= 100_000 and 0 < args.seconds <= 300 and 1 <= args.rounds <= 5):
        parser.error("concurrency 1-256, requests 1-100000, seconds 0-300, rounds 1-5")

    recreate_database(DATABASE)
    env = server_env(DATABASE, **web_settings(args), **({"Q_BROKER_URL": args.broker_url} if args.broker_url else {}))
    proc = None
    try:
        print(f"setting up database {DATABASE} (migrate, tenant, API key)...", flush=True)
        manage("migrate", "--noinput", env=env)
        manage("createcachetable", env=env)
        manage("tenant_create", "bench", "--name", "Benchmark", env=env)
        key = manage("apikey_create", "--tenant", "bench", "--name", "bench", env=env).strip().splitlines()[-1]
        proc, base = start_server(env, worker=False)

        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = json.dumps({"query": "What is the win rate by sector?"})

        async def post_run(client: httpx.AsyncClient) -> bool:
            r = await client.post(f"{base}/api/v1/runs", content=body, headers=headers)
            return r.status_code == 202

        async def healthz(client: httpx.AsyncClient) -> bool:
            r = await client.get(f"{base}/healthz")
            return r.status_code == 200

        async def trivial(client: httpx.AsyncClient) -> bool:
            r = await client.get(f"{base}{TRIVIAL_PATH}")
            return r.status_code == 200

        kwargs = dict(concurrency=args.concurrency, requests=args.requests, seconds=args.seconds, warmup=args.warmup)
        ab_kwargs = dict(concurrency=args.concurrency, requests=args.requests, warmup=args.warmup)
        intake_rounds, trivial_rounds, healthz_rounds = [], [], []
        for _ in range(args.rounds):
            if args.client == "ab":
                intake_rounds.append(drive_ab("POST /api/v1/runs", f"{base}/api/v1/runs", body=body, headers=headers, **ab_kwargs))
                trivial_rounds.append(drive_ab(f"GET {TRIVIAL_PATH}", f"{base}{TRIVIAL_PATH}", **ab_kwargs))
                healthz_rounds.append(drive_ab("GET /healthz", f"{base}/healthz", **ab_kwargs))
                continue
            intake_rounds.append(asyncio.run(drive("POST /api/v1/runs", post_run, **kwargs)))
            trivial_rounds.append(asyncio.run(drive(f"GET {TRIVIAL_PATH}", trivial, **kwargs)))
            healthz_rounds.append(asyncio.run(drive("GET /healthz", healthz, **kwargs)))
        intake, trivial, health = _median(intake_rounds), _median(trivial_rounds), _median(healthz_rounds)

        print(f"\nclient {args.client}, concurrency {args.concurrency}, gunicorn {args.web_workers} worker(s) x {args.web_threads} thread(s), "
              f"{'redis' if args.broker_url else 'ORM'} broker, {os.cpu_count()} CPU(s), median of {args.rounds} round(s)")
        print(intake.line())
        print(trivial.line())
        print(health.line())
        ratio = intake.rps / trivial.rps if trivial.rps else float("nan")
        print(f"{'ratio intake/trivial':<22} {ratio:8.2f}   (target >= 0.25)")
        print(f"{'ratio intake/healthz':<22} {intake.rps / health.rps if health.rps else float('nan'):8.2f}")
        print_memory(proc)
        print(f"\nbenchmark client (this process): {rss(os.getpid())[1]:.1f} MiB; "
              f"intake p50/p99 {intake.pct(0.5):.1f}/{intake.pct(0.99):.1f} ms")
        return 0 if intake.errors == 0 and trivial.errors == 0 and health.errors == 0 else 1
    finally:
        stop_server(proc)
        drop_database(DATABASE)


if __name__ == "__main__":
    sys.exit(main())
