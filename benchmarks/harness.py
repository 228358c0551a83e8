"""Shared machinery of the benchmarks (``benchmarks.intake``, ``benchmarks.slack_ack``,
``benchmarks.run_latency``; ``benchmarks.kb_retrieval`` and ``benchmarks.action_delivery`` run on
their own): throwaway databases on the embedded PostgreSQL server, the production
server (``manage.py serve``) started on a free loopback port and stopped again, a private
``redis-server``, the asyncio load driver and the percentile / memory reports.

Every function that touches a database takes its name as an argument; nothing here keeps or
changes module state, so two benchmarks in one process cannot point each other at the wrong
database. Loopback only; nothing leaves the host.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
# The trivial JSON view every server benchmark compares against (benchmarks.urls, benchmarks.settings).
TRIVIAL_PATH = "/bench/trivial"


# --- numbers ---------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values`` by nearest rank (no interpolation); NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Phase:
    """One measured endpoint: latencies in milliseconds of the requests that succeeded, the count
    of those that failed, and the measured wall time in seconds."""

    name: str
    latencies_ms: list[float]
    errors: int
    seconds: float

    @property
    def rps(self) -> float:
        """Successful requests per second (0 when nothing was measured)."""
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        """The ``q`` quantile (0-1) of the latencies, in ms."""
        return pct(self.latencies_ms, q)

    def line(self) -> str:
        """One report line: requests/s, p50, p99, successes, errors, seconds."""
        return (
            f"{self.name:<22} {self.rps:8.1f} req/s   p50 {self.pct(0.50):7.1f} ms   p99 {self.pct(0.99):7.1f} ms"
            f"   ok {len(self.latencies_ms)}  errors {self.errors}  ({self.seconds:.1f} s)"
        )


async def drive(
    name: str,
    make_request: Callable[[httpx.AsyncClient], Awaitable[bool]],
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int,
) -> Phase:
    """Keep ``concurrency`` requests in flight until ``requests`` finished or ``seconds`` passed,
    after ``warmup`` requests (at least one batch of ``concurrency``) that are not measured.

    ``make_request`` returns True for a success; an ``httpx.HTTPError`` counts as an error.
    """
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


async def drive_raw(
    name: str,
    base: str,
    make_request: Callable[[], bytes],
    *,
    concurrency: int,
    requests: int,
    seconds: float,
    warmup: int,
) -> Phase:
    """Like :func:`drive`, with a lean client: ``concurrency`` keep-alive connections written to
    with asyncio streams, each request the complete HTTP/1.1 bytes ``make_request()`` returns
    (build them with :func:`http_request`), each response read by its status line, headers and
    ``Content-Length`` body. httpx costs about a millisecond of CPU per request, which on a
    2-core machine shared with the server caps every figure (GET /healthz: about 500 req/s with
    httpx at concurrency 50, over 3,000 with ``ab``); this client costs a fraction of that.
    A 2xx is a success; anything else, or a broken connection, an error."""
    split = urlsplit(base)
    host, port = split.hostname or "127.0.0.1", split.port or 80

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(make_request())
        await writer.drain()
        status = await reader.readline()
        length, chunked = 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            lower = line.lower()
            if lower.startswith(b"content-length:"):
                length = int(line[15:].strip())
            elif lower.startswith(b"transfer-encoding:") and b"chunked" in lower:
                chunked = True
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0].strip(), 16)
                await reader.readexactly(size + 2)  # the chunk and its CRLF
                if size == 0:
                    break
        elif length:
            await reader.readexactly(length)
        return status[9:10] == b"2"

    latencies: list[float] = []
    errors = 0
    issued = 0
    measuring = False
    deadline = 0.0

    async def worker(budget: int | None) -> None:
        nonlocal issued, errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            done = 0
            while True:
                if budget is not None:
                    if done >= budget:
                        return
                elif issued >= requests or time.perf_counter() >= deadline:
                    return
                else:
                    issued += 1
                done += 1
                t0 = time.perf_counter()
                try:
                    ok = await one(reader, writer)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    ok = False
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                if budget is None and measuring:
                    if ok:
                        latencies.append((time.perf_counter() - t0) * 1000)
                    else:
                        errors += 1
        finally:
            writer.close()

    per_connection = max(1, warmup // concurrency)
    await asyncio.gather(*(worker(per_connection) for _ in range(concurrency)))
    measuring = True
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(worker(None) for _ in range(concurrency)))
    return Phase(name, latencies, errors, time.perf_counter() - started)


def http_request(method: str, base: str, path: str, *, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    """The bytes of one keep-alive HTTP/1.1 request to ``base`` + ``path`` (for :func:`drive_raw`)."""
    split = urlsplit(base)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {split.netloc}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class AbPhase:
    """One endpoint measured by ApacheBench (``ab``, a C client: its own CPU cost is small, so
    on a 2-core machine the figures describe the server far more than the Python client's do):
    requests/s, p50 and p99 latency in ms, failed or non-2xx responses, wall seconds."""

    name: str
    rps: float
    p50: float
    p99: float
    ok: int
    errors: int
    seconds: float

    def pct(self, q: float) -> float:
        """p50 or p99 (ms); ``ab`` reports whole percentiles only."""
        return self.p50 if q <= 0.5 else self.p99

    def line(self) -> str:
        """One report line, in the same format as :meth:`Phase.line`."""
        return (
            f"{self.name:<22} {self.rps:8.1f} req/s   p50 {self.p50:7.1f} ms   p99 {self.p99:7.1f} ms"
            f"   ok {self.ok}  errors {self.errors}  ({self.seconds:.1f} s)  [ab]"
        )


def drive_ab(name: str, url: str, *, concurrency: int, requests: int, warmup: int, body: str | None = None,
             headers: dict[str, str] | None = None) -> AbPhase:
    """Measure ``url`` with ``ab -k`` (keep-alive) at ``concurrency`` for ``requests`` requests,
    after an unmeasured warm-up of ``warmup`` requests. ``body`` makes it a POST of
    ``application/json``. Raises ``SystemExit`` with an install hint when ``ab`` is missing
    (Debian: ``apt-get install apache2-utils``)."""
    ab = shutil.which("ab")
    if ab is None:
        raise SystemExit("--client ab needs ApacheBench: apt-get install apache2-utils")
    base = [ab, "-q", "-k", "-c", str(concurrency)]
    for key, value in (headers or {}).items():
        if key.lower() != "content-type":
            base += ["-H", f"{key}: {value}"]
    with tempfile.TemporaryDirectory() as tmp:
        if body is not None:
            body_file = Path(tmp) / "body.json"
            body_file.write_text(body)
            base += ["-p", str(body_file), "-T", "application/json"]
        if warmup:
            subprocess.run([*base, "-n", str(max(warmup, concurrency)), url], check=True, capture_output=True, text=True)
        csv_path = Path(tmp) / "percentiles.csv"
        out = subprocess.run([*base, "-n", str(requests), "-e", str(csv_path), url], check=True, capture_output=True, text=True).stdout
        percentiles = {int(float(row.split(",")[0])): float(row.split(",")[1]) for row in csv_path.read_text().splitlines()[1:] if row}

    def number(label: str) -> float:
        match = re.search(rf"^{re.escape(label)}:\s+([0-9.]+)", out, re.M)
        return float(match.group(1)) if match else 0.0

    errors = int(number("Failed requests") + number("Non-2xx responses"))
    done = int(number("Complete requests"))
    return AbPhase(name, number("Requests per second"), percentiles.get(50, float("nan")), percentiles.get(99, float("nan")),
                   done - errors, errors, number("Time taken for tests"))


# --- command line ----------------------------------------------------------------------------


def add_server_args(
    parser: argparse.ArgumentParser, *, warmup: int, warmup_help: str = "requests per endpoint before measuring",
    seconds: float | None = None,
) -> None:
    """Add the options every server benchmark has: ``--warmup`` (default ``warmup``),
    ``--seconds`` (only when a default ``seconds`` is given), ``--web-workers`` and
    ``--web-threads`` (defaults: the ``WEB_WORKERS`` / ``WEB_THREADS`` environment, else 2 / 4)."""
    if seconds is not None:
        parser.add_argument("--seconds", type=float, default=seconds, help=f"most seconds per endpoint (default {seconds:g})")
    parser.add_argument("--warmup", type=int, default=warmup, help=f"{warmup_help} (default {warmup})")
    parser.add_argument("--web-workers", default=os.environ.get("WEB_WORKERS", "2"), help="gunicorn worker processes (default WEB_WORKERS or 2)")
    parser.add_argument("--web-threads", default=os.environ.get("WEB_THREADS", "4"), help="threads per worker (default WEB_THREADS or 4)")


def web_settings(args: argparse.Namespace) -> dict[str, str]:
    """The server environment for the options of :func:`add_server_args`."""
    return {"WEB_WORKERS": str(args.web_workers), "WEB_THREADS": str(args.web_threads)}


# --- databases -------------------------------------------------------------------------------


def database_uri(name: str) -> str:
    """A superuser ``postgresql://`` URI for database ``name`` on the embedded server (started
    when needed; data directory ``REVOPS_DATA_DIR`` or ``.data``). ``postgres`` is the admin
    database. Raises RuntimeError when the server cannot start."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from revops.embedded_db import embedded_database_url

    data_dir = Path(os.environ.get("REVOPS_DATA_DIR", ROOT / ".data"))
    parts = urlsplit(embedded_database_url(data_dir))
    return urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(name: str) -> None:
    """Drop database ``name`` (closing its connections) and create it empty."""
    import psycopg

    with psycopg.connect(database_uri("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str, *, roles: bool = False) -> None:
    """Drop database ``name``; with ``roles``, also the warehouse reader roles ``manage.py demo``
    made for it (roles are cluster-wide; their names contain the database name)."""
    import psycopg

    with psycopg.connect(database_uri("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if roles:
            found = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [f"%{name}%"])]
            for role in found:
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def server_env(database: str, **extra: str) -> dict[str, str]:
    """The environment of ``manage.py`` commands against database ``database``: this process's
    environment without its database, throttle and broker settings; the production settings plus
    the trivial JSON view (``benchmarks.settings``), DEBUG off, throttling off, no access log,
    readiness requiring a live worker (what :func:`start_server` waits for); then ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "API_THROTTLE_", "Q_BROKER"))}
    return {
        **env,
        "DJANGO_SETTINGS_MODULE": "benchmarks.settings",
        "DATABASE_NAME_OVERRIDE": database,
        "READYZ_REQUIRE_WORKER": "1",
        "DJANGO_DEBUG": "0",
        "API_THROTTLE_WRITE_RATE": "none",
        "API_THROTTLE_READ_RATE": "none",
        "WEB_ACCESS_LOG": "",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def manage(*args: str, env: dict[str, str]) -> str:
    """Run ``manage.py args`` (10 minutes at most) and return its stdout; SystemExit with the
    output's tail when it fails."""
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def set_up_demo(env: dict[str, str]) -> str:
    """Migrate, create the cache table and the demo tenant (``manage.py demo``); its API key."""
    manage("migrate", "--noinput", env=env)
    manage("createcachetable", env=env)
    return manage("demo", env=env).strip().splitlines()[-1]


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port that is free now."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from revops.lib.ports import free_port as _free_port

    return _free_port()


def start_server(env: dict[str, str], *, worker: bool) -> tuple[subprocess.Popen, str]:
    """``manage.py serve`` (gunicorn; with its django-q2 worker unless ``worker`` is False) on a free
    loopback port, once ``/healthz`` answers 200 and, with a worker, once ``/readyz`` does (a
    worker heartbeat is required, see :func:`server_env`): measurements start with the worker
    running, not booting. Returns the process (leader of its own session) and the base URL.
    SystemExit when it exits or is not ready within 60 s."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["serve", "--addr", f"127.0.0.1:{port}"] + ([] if worker else ["--no-worker"])
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited:\n{proc.stdout.read().decode(errors='replace')[-3000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200 and (
                not worker or httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            ):
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop_server(proc)
            raise SystemExit(f"the server was not ready (/healthz{', /readyz with a worker' if worker else ''}) within 60 s")
        time.sleep(0.3)


def stop_server(proc: subprocess.Popen | None) -> None:
    """SIGINT the server's process group (web server and worker), SIGKILL after 30 s; nothing
    when ``proc`` is None or already gone."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def process_tree(pid: int) -> list[int]:
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


def rss(pid: int) -> tuple[str, float]:
    """(command line, resident MiB) of one process; ("?", 0.0) when it is gone."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return cmd, int(line.split()[1]) / 1024
    except OSError:
        pass
    return "?", 0.0


def print_memory(proc: subprocess.Popen) -> None:
    """Print the resident memory (MiB) of the server process and each descendant, and the total."""
    print("\nserver processes (RSS):")
    total = 0.0
    for pid in process_tree(proc.pid):
        cmd, mib = rss(pid)
        total += mib
        print(f"  pid {pid:>7}  {mib:7.1f} MiB  {cmd[:100]}")
    print(f"  total        {total:7.1f} MiB")


@dataclass
class RedisServer:
    """A private ``redis-server`` started by :func:`start_redis`."""

    proc: subprocess.Popen
    url: str
    workdir: str

    def stop(self) -> None:
        """SIGTERM it (SIGKILL after 10 s) and remove its directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis() -> RedisServer | None:
    """A private ``redis-server`` on a free loopback port (no persistence, a temporary directory),
    once it accepts connections; None when the binary is not on the PATH. SystemExit when it does
    not start within 10 s."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="revops-bench-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    server = RedisServer(proc, f"redis://127.0.0.1:{port}/0", workdir)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise SystemExit("redis-server did not start within 10 s")
