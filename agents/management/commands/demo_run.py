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
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log_dir = Path(settings.DATA_DIR) / "logs"
        log_dir.mkdir(exist_ok=True)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        procs = [
            subprocess.Popen(manage + ["qcluster"], env=env, stdout=open(log_dir / "worker.log", "w"), stderr=subprocess.STDOUT),
            subprocess.Popen(manage + ["runserver", "--noreload", f"127.0.0.1:{opts['port']}"], env=env, stdout=open(log_dir / "web.log", "w"), stderr=subprocess.STDOUT),
        ]
        self.stdout.write(f"worker pid {procs[0].pid}, web server pid {procs[1].pid} on {base} (logs in {log_dir})")
        failures = 0
        try:
            self._wait_ready(base)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
                for question in opts["question"] or QUESTIONS:
                    failures += not self._ask(client, question, opts["timeout"])
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

    def _wait_ready(self, base: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/v1/schema", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise CommandError("the web server did not start within 60 s")

    def _ask(self, client: httpx.Client, question: str, timeout: float) -> bool:
        sent = time.monotonic()
        response = client.post("/api/v1/runs", json={"query": question, "source_system": "demo", "source_process": "make demo"})
        if response.status_code != 202:
            self.stdout.write(f"POST failed: {response.status_code} {response.text}")
            return False
        tracking_id = response.json()["tracking_id"]
        while time.monotonic() - sent < timeout:
            run = client.get(f"/api/v1/runs/{tracking_id}").json()
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
