"""Load check: N webhook actions through real django-q2 workers to a local receiver.

    .venv/bin/python -m benchmarks.action_delivery [--actions 1000] [--workers 2] [--timeout 600] [--keep-db]

What it does, in a dedicated database (``revops_loadcheck_<pid>`` on the same server, created,
migrated and dropped again; the workers reach it through ``DATABASE_NAME_OVERRIDE``):

1. starts a webhook receiver on 127.0.0.1 that verifies every Standard Webhooks signature and
   records each ``webhook-id`` with its arrival time;
2. creates a tenant and a registered endpoint, and starts ``manage.py qcluster`` with
   ``Q_WORKERS`` workers (``ALLOW_HTTP_LOOPBACK_CALLBACKS=1`` so http to loopback is allowed);
3. sends one warm-up action and waits for it (cluster start-up is not measured);
4. creates N webhook actions as fast as it can (each committed, then enqueued on commit: the
   production path) and waits until every one has been delivered;
5. prints: delivered (distinct webhook-ids), deliveries received, duplicates (deliveries -
   distinct ids; must be 0), signatures that failed to verify, actions ``succeeded`` in the
   database, and the end-to-end delay (action created -> request received by the receiver) at
   p50 / p95 / max in milliseconds, plus the throughput.

Exit status 0 when every action was delivered exactly once and verified, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Receiver:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: dict[str, float] = {}
        self.deliveries = 0
        self.unverified = 0
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                from standardwebhooks import Webhook
                from standardwebhooks.webhooks import WebhookVerificationError

                now = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    ok = True
                except WebhookVerificationError:
                    ok = False
                with receiver.lock:
                    receiver.deliveries += 1
                    receiver.unverified += 0 if ok else 1
                    receiver.arrivals.setdefault(headers.get("webhook-id", ""), now)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    """Command line of ``python -m benchmarks.action_delivery``: prints delivered count, duplicates and
    p50/p95 end-to-end delay (ms); exit status 1 when a delivery is missing or duplicated."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--actions", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for every delivery")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)

    dbname = f"revops_loadcheck_{os.getpid()}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "revops.settings"
    os.environ["DATABASE_NAME_OVERRIDE"] = dbname
    os.environ["ALLOW_HTTP_LOOPBACK_CALLBACKS"] = "1"
    os.environ["Q_SYNC"] = "0"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    with connection._nodb_cursor() as cur:
        cur.execute(f'CREATE DATABASE "{dbname}"')
    worker = None
    receiver = _Receiver()
    try:
        call_command("migrate", verbosity=0)
        from actions.models import Action, ActionStatus
        from actions.services import action_create, webhook_endpoint_create
        from tenants.services import tenant_create

        tenant = tenant_create(slug="loadcheck", name="Load check")
        endpoint, receiver.secret = webhook_endpoint_create(tenant=tenant, url=receiver.url, description="load check receiver")
        env = {**os.environ, "Q_WORKERS": str(args.workers), "LOG_LEVEL": "WARNING"}
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "qcluster"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

        def make(key: str) -> Action:
            return action_create(
                tenant=tenant,
                kind="webhook",
                payload={"endpoint_id": endpoint.pk, "event_type": "loadcheck.ping", "data": {"key": key}},
                idempotency_key=key,
                requested_via="loadcheck",
            ).action

        warm = make("warm-up")
        deadline = time.monotonic() + 120
        while warm.webhook_id not in receiver.arrivals and time.monotonic() < deadline:
            time.sleep(0.1)
        if warm.webhook_id not in receiver.arrivals:
            print("the cluster did not deliver the warm-up action within 120 s", file=sys.stderr)
            return 1

        print(f"creating {args.actions} webhook actions; {args.workers} django-q2 workers deliver them…", flush=True)
        created: dict[str, float] = {}
        started = time.time()
        for i in range(args.actions):
            action = make(f"load-{i}")
            created[action.webhook_id] = action.created_at.timestamp()
        enqueue_seconds = time.time() - started
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            with receiver.lock:
                done = sum(1 for wid in created if wid in receiver.arrivals)
            if done == len(created):
                break
            time.sleep(0.2)
        time.sleep(2.0)  # late duplicates, if any, would arrive now
        with receiver.lock:
            arrivals = dict(receiver.arrivals)
            deliveries, unverified = receiver.deliveries, receiver.unverified
        delivered = [wid for wid in created if wid in arrivals]
        delays_ms = [(arrivals[wid] - created[wid]) * 1000 for wid in delivered]
        succeeded = Action.objects.for_tenant(tenant).filter(status=ActionStatus.SUCCEEDED).exclude(idempotency_key="warm-up").count()
        duplicates = deliveries - len(arrivals)
        last = max((arrivals[wid] for wid in delivered), default=started)
        print(f"actions created:        {len(created)} in {enqueue_seconds:.1f} s")
        print(f"delivered (distinct):   {len(delivered)}")
        print(f"deliveries received:    {deliveries - 1} (+1 warm-up)")
        print(f"duplicates:             {duplicates}")
        print(f"signature failures:     {unverified}")
        print(f"succeeded in database:  {succeeded}")
        if delays_ms:
            print(
                f"end-to-end delay (ms):  p50 {_percentile(delays_ms, 0.50):.0f}  p95 {_percentile(delays_ms, 0.95):.0f}  "
                f"max {max(delays_ms):.0f}  mean {statistics.fmean(delays_ms):.0f}"
            )
            print(f"throughput:             {len(delivered) / max(1e-9, last - started):.1f} deliveries/s over {last - started:.1f} s")
        ok = len(delivered) == len(created) == succeeded and duplicates == 0 and unverified == 0
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.send_signal(signal.SIGTERM)
            try:
                output = worker.communicate(timeout=30)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                worker.kill()
                output = worker.communicate()[0].decode(errors="replace")
            errors = [line for line in output.splitlines() if "ERROR" in line or "Traceback" in line]
            if errors:
                print("worker errors:\n" + "\n".join(errors[-20:]), file=sys.stderr)
        receiver.server.shutdown()
        connections.close_all()
        if not args.keep_db:
            with connection._nodb_cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
