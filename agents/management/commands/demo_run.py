"""Runs the main job end to end: starts a django-q2 worker and the web server, sends the demo
questions through the REST API, waits for the worker's answers and prints them."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.management.commands.serve import ensure_static_files, web_command
from revops.lib.ports import port_in_use

QUESTIONS = [
    "What is the status of the Acme Corporation deals?",
    "Assess Paul Stokes from Acme Corporation as a lead",
    "What is the win rate by regional office?",
    "How much closed-won revenue did we book last quarter?",
    "Top 3 reps in the East office by win rate this year",
    "Which campaigns influenced revenue?",
    "Which accounts have mentioned competitors in call notes?",
]


class Command(BaseCommand):
    help = "Start a worker and a server, ask the demo questions through the REST API, print the answers."

    def add_arguments(self, parser):
        parser.add_argument("--key-file", default=str(Path(settings.DATA_DIR) / "demo_api_key"))
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each answer")
        parser.add_argument("question", nargs="*", help="questions to ask instead of the demo set")

    def handle(self, *args, **opts):
        key_path = Path(opts["key_file"])
        if not key_path.exists():
            raise CommandError(f"{key_path} not found: run `manage.py demo --key-file {key_path}` first")
        key = key_path.read_text().strip()
        base = f"http://127.0.0.1:{opts['port']}"
        if port_in_use("127.0.0.1", opts["port"]):
            raise CommandError(
                f"port {opts['port']} on 127.0.0.1 is already in use by another process (a `make serve` still running?): "
                f"stop it, or choose another port: make demo PORT={opts['port'] + 1}"
            )
        ensure_static_files(self.stdout)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log_dir = Path(settings.DATA_DIR) / "logs"
        log_dir.mkdir(exist_ok=True)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        procs = [
            subprocess.Popen(manage + ["qcluster"], env=env, stdout=open(log_dir / "worker.log", "w"), stderr=subprocess.STDOUT),
            subprocess.Popen(web_command(f"127.0.0.1:{opts['port']}"), env=env, stdout=open(log_dir / "web.log", "w"), stderr=subprocess.STDOUT),
        ]
        self.stdout.write(f"worker pid {procs[0].pid}, web server pid {procs[1].pid} on {base} (logs in {log_dir})")
        failures = 0
        try:
            self._wait_ready(base, procs, log_dir)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                for question in opts["question"] or QUESTIONS:
                    try:
                        failures += not self._ask(client, question, opts["timeout"])
                    except httpx.TransportError as exc:
                        raise CommandError(f"lost the web server at {base} ({type(exc).__name__}: {exc}); see {log_dir / 'web.log'}") from None
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if failures:
            raise CommandError(f"{failures} question(s) did not get an answer")

    def _wait_ready(self, base: str, procs: list[subprocess.Popen], log_dir: Path) -> None:
        """Wait until our own web server answers ``/healthz``; fail plainly (with the end of its
        log) when it or the worker exits first, or when nothing answers within 60 s."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for proc, name in zip(procs, ("worker", "web")):
                if proc.poll() is not None:
                    raise CommandError(f"the {name} process exited with code {proc.returncode} before the server was ready; "
                                       f"the end of {log_dir / (name + '.log')}:\n{_tail(log_dir / (name + '.log'))}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise CommandError(f"the web server did not answer {base}/healthz within 60 s; see {log_dir / 'web.log'}")

    def _ask(self, client: httpx.Client, question: str, timeout: float) -> bool:
        sent = time.monotonic()
        response = client.post("/api/v1/runs", json={"query": question, "source_system": "demo", "source_process": "make demo"})
        if response.status_code != 202:
            self.stdout.write(f"POST failed: {response.status_code} {response.text}")
            return False
        tracking_id = response.json()["tracking_id"]
        while time.monotonic() - sent < timeout:
            run = client.get(f"/api/v1/runs/{tracking_id}?include=steps").json()  # steps: counted below
            if run["status"] in ("succeeded", "failed"):
                break
            time.sleep(0.3)
        else:
            self.stdout.write(f"timed out waiting for run {tracking_id}")
            return False
        bar = "=" * 100
        self.stdout.write(f"\n{bar}\nQ: {question}\n   run {tracking_id} · route {', '.join(run['route'])} · {run['status']} · "
                          f"{len(run['steps'])} steps · {run['duration_ms']} ms on the worker · {time.monotonic() - sent:.1f} s end to end\n{bar}\n")
        self.stdout.write(run["answer"])
        if run["error"]:
            self.stdout.write(f"error: {run['error']}")
        return run["status"] == "succeeded"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
