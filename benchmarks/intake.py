"""Intake benchmark: ``POST /api/v1/runs`` against a trivial JSON view on the same production server.

Run ``python -m benchmarks.intake`` (``--help`` for the knobs). It:

1. creates a throwaway database ``revops_bench`` on the embedded PostgreSQL server (never the dev
   database), migrates it and creates a demo tenant with an API key;
2. starts ``manage.py serve --no-worker`` (gunicorn, DEBUG off) on a free loopback port with
   ``API_THROTTLE_WRITE_RATE=none`` and ``API_THROTTLE_READ_RATE=none``; without a worker the runs
   stay queued, so only the intake path (auth, validation, insert, enqueue) is measured;
3. drives each endpoint at a fixed concurrency (default 32) with one asyncio + httpx client,
   after a warm-up, for at most ``--requests`` requests or ``--seconds`` seconds, whichever ends
   first; prints requests/s, p50 and p99 latency (ms), errors, the intake / ``/healthz`` ratio
   and the resident memory (RSS, MiB) of every server process;
4. stops the server and drops the database.

The client shares the machine's cores with the server, so the figures are a floor; compare them
on the same machine only. Loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "revops_bench"


@dataclass
class Phase:
    """One measured endpoint: latencies in milliseconds of the requests that finished."""

    name: str
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def line(self) -> str:
        return (
            f"{self.name:<22} {self.rps:8.1f} req/s   p50 {self.pct(0.50):7.1f} ms   p99 {self.pct(0.99):7.1f} ms"
            f"   ok {len(self.latencies_ms)}  errors {self.errors}  ({self.seconds:.1f} s)"
        )


def _admin_uri() -> str:
    """The embedded server's superuser URI (starting the server when needed)."""
    sys.path.insert(0, str(ROOT))
    from revops.embedded_db import embedded_database_url

    data_dir = Path(os.environ.get("REVOPS_DATA_DIR", ROOT / ".data"))
    url = embedded_database_url(data_dir)
    return url.replace("/revops?", "/postgres?", 1)


def _recreate_database(admin_uri: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "API_THROTTLE_", "Q_BROKER"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "revops.settings",
        "DATABASE_NAME_OVERRIDE": DATABASE,
        "DJANGO_DEBUG": "0",
        "API_THROTTLE_WRITE_RATE": "none",
        "API_THROTTLE_READ_RATE": "none",
        "WEB_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def _manage(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _free_port() -> int:
    sys.path.insert(0, str(ROOT))
    from revops.lib.ports import free_port

    return free_port()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _rss(pid: int) -> tuple[str, float]:
    """(command line, resident MiB) of one process."""
    try:
        cmd = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip())
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return cmd, int(line.split()[1]) / 1024
    except OSError:
        pass
    return "?", 0.0


async def _drive(name: str, make_request, *, concurrency: int, requests: int, seconds: float, warmup: int) -> Phase:
    """Keep ``concurrency`` requests in flight until ``requests`` finished or ``seconds`` passed."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(warmup // concurrency or 1):
            await asyncio.gather(*(make_request(client) for _ in range(concurrency)), return_exceptions=True)
        latencies: list[float] = []
        errors = 0
        issued = 0
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            nonlocal issued, errors
            while issued < requests and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                try:
                    ok = await make_request(client)
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return Phase(name, latencies, errors, time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.intake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight (default 32)")
    parser.add_argument("--requests", type=int, default=3000, help="most requests per endpoint (default 3000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="most seconds per endpoint (default 20)")
    parser.add_argument("--warmup", type=int, default=200, help="requests per endpoint before measuring (default 200)")
    parser.add_argument("--web-workers", default=os.environ.get("WEB_WORKERS", "2"), help="gunicorn worker processes (default WEB_WORKERS or 2)")
    parser.add_argument("--web-threads", default=os.environ.get("WEB_THREADS", "4"), help="threads per worker (default WEB_THREADS or 4)")
    parser.add_argument("--rounds", type=int, default=1, help="measure each endpoint this many times, report the median round (default 1)")
    args = parser.parse_args(argv)
    if not (1 <= args.concurrency <= 256 and 1 <= args.requests <= 100_000 and 0 < args.seconds <= 300 and 1 <= args.rounds <= 5):
        parser.error("concurrency 1-256, requests 1-100000, seconds 0-300, rounds 1-5")

    admin_uri = _admin_uri()
    _recreate_database(admin_uri)
    env = _env(WEB_WORKERS=str(args.web_workers), WEB_THREADS=str(args.web_threads))
    proc = None
    try:
        print(f"setting up database {DATABASE} (migrate, tenant, API key)...", flush=True)
        _manage("migrate", "--noinput", env=env)
        _manage("createcachetable", env=env)
        _manage("tenant_create", "bench", "--name", "Benchmark", env=env)
        key = _manage("apikey_create", "--tenant", "bench", "--name", "bench", env=env).strip().splitlines()[-1]

        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "serve", "--no-worker", "--addr", f"127.0.0.1:{port}"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited:\n{proc.stdout.read().decode(errors='replace')[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not answer /healthz within 60 s")
            time.sleep(0.3)

        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = json.dumps({"query": "What is the win rate by sector?"})

        async def post_run(client: httpx.AsyncClient) -> bool:
            r = await client.post(f"{base}/api/v1/runs", content=body, headers=headers)
            return r.status_code == 202

        async def healthz(client: httpx.AsyncClient) -> bool:
            r = await client.get(f"{base}/healthz")
            return r.status_code == 200

        kwargs = dict(concurrency=args.concurrency, requests=args.requests, seconds=args.seconds, warmup=args.warmup)
        intake_rounds, trivial_rounds = [], []
        for _ in range(args.rounds):
            intake_rounds.append(asyncio.run(_drive("POST /api/v1/runs", post_run, **kwargs)))
            trivial_rounds.append(asyncio.run(_drive("GET /healthz", healthz, **kwargs)))
        intake = sorted(intake_rounds, key=lambda p: p.rps)[len(intake_rounds) // 2]
        trivial = sorted(trivial_rounds, key=lambda p: p.rps)[len(trivial_rounds) // 2]

        print(f"\nconcurrency {args.concurrency}, gunicorn {args.web_workers} worker(s) x {args.web_threads} thread(s), "
              f"{os.cpu_count()} CPU(s), median of {args.rounds} round(s)")
        print(intake.line())
        print(trivial.line())
        ratio = intake.rps / trivial.rps if trivial.rps else float("nan")
        print(f"{'ratio intake/healthz':<22} {ratio:8.2f}")
        print("\nserver processes (RSS):")
        total = 0.0
        for pid in _tree(proc.pid):
            cmd, mib = _rss(pid)
            total += mib
            print(f"  pid {pid:>7}  {mib:7.1f} MiB  {cmd[:100]}")
        print(f"  total        {total:7.1f} MiB")
        print(f"\nbenchmark client (this process): {_rss(os.getpid())[1]:.1f} MiB; "
              f"intake p50/p99 {intake.pct(0.5):.1f}/{intake.pct(0.99):.1f} ms; mean {statistics.fmean(intake.latencies_ms or [0]):.1f} ms")
        return 0 if intake.errors == 0 and trivial.errors == 0 else 1
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        _recreate_database(admin_uri, drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
