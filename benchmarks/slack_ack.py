"""Slack ack benchmark: signed ``app_mention`` events beside a trivial JSON view on the same production server.

Run ``python -m benchmarks.slack_ack`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench_slack`` on the embedded PostgreSQL server (never
   the dev database), migrates it, runs ``manage.py demo`` (the demo tenant: warehouse, KB,
   offline LLM) and gives the tenant a Slack credential with ``connector_set`` (signing secret and
   bot token from files, as documented);
2. starts the local fake Slack Web API (``integrations/tests/fake_slack.py``) in this process and
   ``manage.py serve`` (gunicorn, DEBUG off, **with its django-q2 worker**) on a free loopback
   port, with ``SLACK_API_URL`` pointing at the fake, and waits until ``/readyz`` sees the
   worker's heartbeat; every accepted event becomes a run the worker answers in its thread while
   the acks are being measured;
3. sends signed ``app_mention`` events (a new ``event_id`` each, a fresh timestamp and signature
   each) at a fixed concurrency (default 50) after a warm-up, for at most ``--requests`` events or
   ``--seconds`` seconds; then the trivial JSON view (``/bench/trivial``, behind the whole
   middleware stack) and ``GET /healthz`` the same way; prints requests/s, ack p50/p99 (ms), the
   ratios, the server processes' memory, and how many runs the worker finished meanwhile;
4. stops the server and the fake, drops the database and the warehouse roles made for it.

The client, the fake Slack and the worker share the machine's cores with the web server, so the
figures are a floor. Loopback only; nothing leaves the host. The Redis broker is used when
``Q_BROKER_URL`` is given with ``--broker-url``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import hmac
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import httpx

from benchmarks.harness import (
    ROOT, TRIVIAL_PATH, add_server_args, database_uri, drive, drive_raw, drop_database, http_request, manage, print_memory, recreate_database, server_env,
    set_up_demo, start_server, stop_server, web_settings,
)

DATABASE = "revops_bench_slack"
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-bench-0000-0000-token"
TEAM_ID = "T0BENCH"
BOT_USER = "U0BOTBENCH"


def _signed(body: bytes) -> dict[str, str]:
    """Slack's ``v0`` signature headers for ``body`` now."""
    ts = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": "application/json"}


def _mention(n: int) -> bytes:
    ts = f"{1_760_000_000 + n}.000100"
    return json.dumps({
        "type": "event_callback",
        "team_id": TEAM_ID,
        "api_app_id": "A0BENCH",
        "event_id": f"EvBench{n:08d}",
        "event_time": int(time.time()),
        "event": {"type": "app_mention", "user": "U0HUMAN", "text": f"<@{BOT_USER}> What is the win rate by sector?",
                  "channel": "C0BENCH", "ts": ts, "event_ts": ts},
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER, "is_bot": True}],
    }).encode()


def _start_fake_slack():
    """The local fake Slack Web API on a free loopback port, in a daemon thread; (server, state)."""
    sys.path.insert(0, str(ROOT))
    from integrations.tests.fake_slack import FakeSlack, _handler

    state = FakeSlack()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, name="fake-slack", daemon=True).start()
    return server, state


def _runs_finished(database: str) -> tuple[int, int]:
    """(runs recorded, runs finished) in database ``database``."""
    import psycopg

    with psycopg.connect(database_uri(database)) as conn:
        row = conn.execute("SELECT count(*), count(finished_at) FROM agents_run").fetchone()
    return int(row[0]), int(row[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slack_ack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=50, help="events in flight (default 50)")
    parser.add_argument("--requests", type=int, default=2000, help="most events (default 2000)")
    add_server_args(parser, seconds=20.0, warmup=100, warmup_help="events before measuring")
    parser.add_argument("--rounds", type=int, default=1, help="measure the acks this many times, report the median round by p99 (default 1)")
    parser.add_argument("--broker-url", default="", help="Q_BROKER_URL for the server (default: the ORM broker)")
    parser.add_argument("--no-worker", action="store_true", help="the web server alone (the ack path without a busy worker)")
    parser.add_argument(
        "--client", choices=["raw", "httpx"], default="raw",
        help="load generator: raw (lean asyncio streams, default) or httpx (about 1 ms of client CPU per request, "
        "which on 2 cores caps the figures)",
    )
    args = parser.parse_args(argv)
    if not (1 <= args.concurrency <= 256 and 1 <= args.requests <= 20_000 and 0 < args.seconds <= 120 and 0 <= args.warmup <= 2000
            and 1 <= args.rounds <= 5):
        parser.error("concurrency 1-256, requests 1-20000, seconds 0-120, warmup 0-2000, rounds 1-5")

    recreate_database(DATABASE)
    fake_server, fake = _start_fake_slack()
    extra = {**web_settings(args), "SLACK_API_URL": fake.url}
    if args.broker_url:
        extra["Q_BROKER_URL"] = args.broker_url
    env = server_env(DATABASE, **extra)
    proc = None
    try:
        print(f"setting up database {DATABASE} (migrate, demo tenant, Slack credential)...", flush=True)
        set_up_demo(env)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "signing").write_text(SIGNING_SECRET)
            (Path(tmp) / "token").write_text(BOT_TOKEN)
            manage(
                "connector_set", "--tenant", "demo", "--kind", "slack",
                "--config-json", json.dumps({"team_id": TEAM_ID, "bot_user_id": BOT_USER}),
                "--secret", f"signing_secret=@{tmp}/signing", "--secret", f"bot_token=@{tmp}/token", env=env,
            )
        proc, base = start_server(env, worker=not args.no_worker)
        counter = itertools.count()
        statuses: collections.Counter = collections.Counter()

        async def event(client: httpx.AsyncClient) -> bool:
            body = _mention(next(counter))
            try:
                r = await client.post(f"{base}/slack/events/demo", content=body, headers=_signed(body))
            except httpx.HTTPError as exc:
                statuses[type(exc).__name__] += 1
                raise
            statuses[r.status_code] += 1
            return r.status_code == 200

        async def healthz(client: httpx.AsyncClient) -> bool:
            r = await client.get(f"{base}/healthz")
            return r.status_code == 200

        async def trivial_view(client: httpx.AsyncClient) -> bool:
            r = await client.get(f"{base}{TRIVIAL_PATH}")
            return r.status_code == 200

        kwargs = dict(concurrency=args.concurrency, requests=args.requests, seconds=args.seconds, warmup=args.warmup)
        if args.client == "raw":
            def event_bytes() -> bytes:
                body = _mention(next(counter))
                statuses["sent"] += 1
                return http_request("POST", base, "/slack/events/demo", headers=_signed(body), body=body)

            healthz_bytes = http_request("GET", base, "/healthz")
            trivial_bytes = http_request("GET", base, TRIVIAL_PATH)
            ack_rounds = [asyncio.run(drive_raw("POST /slack/events", base, event_bytes, **kwargs)) for _ in range(args.rounds)]
            recorded, finished = _runs_finished(DATABASE)
            trivial = asyncio.run(drive_raw(f"GET {TRIVIAL_PATH}", base, lambda: trivial_bytes, **kwargs))
            health = asyncio.run(drive_raw("GET /healthz", base, lambda: healthz_bytes, **kwargs))
        else:
            ack_rounds = [asyncio.run(drive("POST /slack/events", event, **kwargs)) for _ in range(args.rounds)]
            recorded, finished = _runs_finished(DATABASE)
            trivial = asyncio.run(drive(f"GET {TRIVIAL_PATH}", trivial_view, **kwargs))
            health = asyncio.run(drive("GET /healthz", healthz, **kwargs))

        ack = sorted(ack_rounds, key=lambda p: p.pct(0.99))[len(ack_rounds) // 2]  # the median round by p99
        load = os.getloadavg()
        print(f"\nclient {args.client}, concurrency {args.concurrency}, gunicorn {args.web_workers} worker(s) x {args.web_threads} thread(s) + "
              f"{'no worker' if args.no_worker else 'django-q2 worker'} ({'redis' if args.broker_url else 'ORM'} broker), {os.cpu_count()} CPU(s), "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if len(ack_rounds) > 1:
            for n, phase in enumerate(ack_rounds, 1):
                print(f"  round {n}: {phase.line()}")
            print(f"median round by p99 of {len(ack_rounds)}:")
        print(ack.line())
        print(trivial.line())
        print(health.line())
        print(f"{'ratio ack/trivial':<22} {ack.rps / trivial.rps if trivial.rps else float('nan'):8.2f}")
        print(f"{'ratio ack/healthz':<22} {ack.rps / health.rps if health.rps else float('nan'):8.2f}")
        print(f"event responses (warm-up included): {dict(statuses)}")
        print(f"\nruns created by the worker by the end of the ack phase {recorded} (warm-up included), finished {finished}; "
              f"fake Slack calls {len(fake.requests)}")
        print_memory(proc)
        print(f"\nSlack ack p50/p99 {ack.pct(0.5):.1f}/{ack.pct(0.99):.1f} ms (target p99 < 300 ms)")
        return 0 if all(p.errors == 0 for p in [*ack_rounds, trivial, health]) else 1
    finally:
        stop_server(proc)
        fake_server.shutdown()
        fake_server.server_close()
        drop_database(DATABASE, roles=True)


if __name__ == "__main__":
    sys.exit(main())
