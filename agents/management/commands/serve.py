"""Runs the web server and a django-q2 worker together; stops both on Ctrl-C or SIGTERM."""

import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Start the web server (runserver) and a django-q2 worker (qcluster); Ctrl-C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8765", help="address:port of the web server")

    def handle(self, *args, **opts):
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        procs = [subprocess.Popen(manage + ["qcluster"]), subprocess.Popen(manage + ["runserver", opts["addr"]])]
        self.stdout.write(f"web server on http://{opts['addr']}/ (pid {procs[1].pid}), worker pid {procs[0].pid}; Ctrl-C stops both")

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
