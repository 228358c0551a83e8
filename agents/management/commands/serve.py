"""Runs the web server (gunicorn, or runserver with ``--dev``) and a django-q2 worker together;
stops both on Ctrl-C or SIGTERM."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from revops.lib.ports import port_in_use


def web_command(addr: str, *, dev: bool = False) -> list[str]:
    """The command line of the web server on ``addr`` (``HOST:PORT``): gunicorn with
    ``revops/gunicorn_conf.py`` (workers, threads and timeouts from ``WEB_*`` variables), or
    Django's development server when ``dev``."""
    base = Path(settings.BASE_DIR)
    if dev:
        return [sys.executable, str(base / "manage.py"), "runserver", "--noreload", addr]
    return [sys.executable, "-m", "gunicorn", "-c", str(base / "revops" / "gunicorn_conf.py"), "--bind", addr, "revops.wsgi:application"]


def ensure_static_files(stdout) -> None:
    """Run ``collectstatic`` when the manifest the static storage needs is missing (a fresh
    clone started without ``make``), so the admin never renders unstyled or fails."""
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if "Manifest" in settings.STORAGES["staticfiles"]["BACKEND"] and not manifest.exists():
        stdout.write(f"{manifest} is missing: running collectstatic")
        call_command("collectstatic", interactive=False, verbosity=0)


def split_addr(addr: str) -> tuple[str, int]:
    """Split ``--addr`` ``HOST:PORT`` into ``(host, port)``.

    The host may be bracketed IPv6 (``[::1]:8765`` gives ``("::1", 8765)``); an empty host
    (``:8765``) is ``127.0.0.1``. Raises ``CommandError`` when there is no ``:`` or the port is
    not a decimal number.
    """
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise CommandError(f"--addr must be HOST:PORT, got {addr!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class Command(BaseCommand):
    help = "Start the web server (gunicorn) and a django-q2 worker (qcluster); Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8765", help="HOST:PORT of the web server (default 127.0.0.1:8765)")
        parser.add_argument("--dev", action="store_true", help="Django's development server instead of gunicorn")
        parser.add_argument("--no-worker", action="store_true", help="the web server alone")

    def handle(self, *args, **opts):
        host, port = split_addr(opts["addr"])
        if port_in_use(host, port):
            raise CommandError(f"{host}:{port} is already in use by another process: stop it, or choose another address (make serve PORT=...)")
        ensure_static_files(self.stdout)
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        procs = [subprocess.Popen(web_command(opts["addr"], dev=opts["dev"]))]
        if not opts["no_worker"]:
            # The worker yields the CPU to the web server when both want it (Slack wants its ack
            # within 3 s; an answer can wait): settings.WORKER_NICE, 0 turns it off.
            nice = int(settings.WORKER_NICE)
            procs.append(subprocess.Popen(manage + ["qcluster"], preexec_fn=(lambda: os.nice(nice)) if nice else None))
        server = "runserver" if opts["dev"] else "gunicorn"
        worker = f", worker pid {procs[1].pid}" if len(procs) > 1 else ""
        self.stdout.write(f"web server ({server}) on http://{opts['addr']}/ (pid {procs[0].pid}){worker}; Ctrl-C stops both")

        def stop(*_):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        try:
            while all(p.poll() is None for p in procs):
                try:
                    procs[0].wait(timeout=1)
                except subprocess.TimeoutExpired:
                    pass
        except KeyboardInterrupt:
            pass
        finally:
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        codes = [p.returncode for p in procs]
        self.stdout.write(f"stopped (exit codes {codes})")
