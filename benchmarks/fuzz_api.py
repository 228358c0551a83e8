"""Long API fuzzing run: ``python -m benchmarks.fuzz_api`` (``--help`` for the knobs).

Runs the suite's schemathesis test (``revops/tests/test_fuzz_api.py``: every operation of
``/api/v1/schema`` through the WSGI app in process, on a throwaway test database that pytest-django
creates and drops, authenticated with a test tenant's API key) with ``--max-examples`` examples per
operation and a random seed (``FUZZ_RANDOM=1``; the suite's run is derandomized), then prints the
number of cases tried, the answers per operation and status, and every failure (a 5xx) with a
curl command that reproduces it. Exit status 0 when there is none, 1 otherwise.

Hypothesis stops an operation early when it has exhausted what it can generate for it, so the
cases tried may be fewer than operations x examples; raise ``--max-examples`` to reach a target
(the default reaches more than 10,000 cases on the current schema).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import ROOT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=2000, help="hypothesis examples per operation (default 2000)")
    parser.add_argument("--failures", type=int, default=20, help="print at most this many failures (default 20)")
    opts = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz_api_") as tmp:
        report = Path(tmp) / "cases.jsonl"
        env = {**os.environ, "FUZZ_MAX_EXAMPLES": str(opts.max_examples), "FUZZ_RANDOM": "1", "FUZZ_REPORT": str(report)}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "revops/tests/test_fuzz_api.py", "-q", "-p", "no:cacheprovider", "--no-header", "-rN"],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )
        seconds = time.monotonic() - started
        rows = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    by_status = collections.Counter((row["operation"], row["status"]) for row in rows)
    failures = [row for row in rows if row["failure"] or row["status"] >= 500]
    print(f"cases tried: {len(rows)} in {seconds:.0f} s ({opts.max_examples} examples per operation, random seed)")
    print(f"server errors (5xx): {sum(1 for row in rows if row['status'] >= 500)}")
    print(f"failures: {len(failures)}")
    for (operation, status), count in sorted(by_status.items()):
        print(f"  {operation:<50} {status}  {count}")
    for row in failures[: opts.failures]:
        print(f"FAILURE {row['operation']} -> {row['status']}: {row['failure']}\n  {row['curl']}")
    if done.returncode != 0 and not failures:  # pytest failed for another reason: show it
        print(done.stdout[-5000:], done.stderr[-3000:], sep="\n")
    return 0 if done.returncode == 0 and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
