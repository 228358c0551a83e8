"""Sync throughput against the local fakes (issue 12's closing note: "sync throughput (records/s
against the fakes)").

Run ``python -m benchmarks.sync_throughput [--scale N] [--calls N] [--changes N]``. It:

1. creates a throwaway database ``revops_bench_sync`` on the embedded PostgreSQL server (never the
   dev database) and migrates it;
2. starts the local fake Salesforce REST API (:mod:`integrations.tests.fake_salesforce`, HTTPS on
   loopback, seeded from the demo CSV files by its ``demo_records``) and runs a full Salesforce
   sync of a tenant through the real simple-salesforce client, one
   :func:`~integrations.salesforce.sync.salesforce_sync` call per object (so each object is timed
   on its own; the token is fetched once and reused), printing records/s per object and in total;
3. changes ``--changes`` opportunities and deletes ``--changes`` tasks in the fake and times the
   incremental second sync (one call, all objects);
4. with ``--scale N`` (N > 1), repeats 2-3 on a second tenant whose fake holds N copies of every
   opportunity (new Ids; the other objects as seeded);
5. starts the local fake Gong API (:mod:`integrations.tests.fake_gong`) with ``--calls`` generated
   calls (one a day back from 2025-06-30, two participants, one linked to a demo account by CRM
   id, the other by e-mail domain, a four-line transcript), times
   :func:`~integrations.gong.sync.gong_sync` (100 calls a page; one transcript request per page),
   adds ``--changes`` newer calls and times the incremental sync;
6. drops the database and the reader roles the syncs made.

Records/s = records read from the fake (``fetched``, deleted ones included) / wall-clock seconds of
the sync call, which includes the HTTP round trips on loopback, the JSON decoding, the upserts and
the watermark commits. The fakes answer in-process (threads of this Python process, sharing its
GIL with the sync): the figures measure our sync's and the client's overhead on this machine, not
Salesforce's or Gong's service times.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import tempfile
import time
from pathlib import Path

import django

from benchmarks.harness import drop_database, recreate_database

DATABASE = "revops_bench_sync"
# Django reads the throwaway database's name at set-up (a standalone script: set up first).
os.environ["DATABASE_NAME_OVERRIDE"] = DATABASE
os.environ["DJANGO_SETTINGS_MODULE"] = "revops.settings"
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["ALLOW_HTTP_LOOPBACK_CALLBACKS"] = "1"  # the Gong fake is plain http on loopback (the outbound guard refuses that otherwise)
django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from actions.tests.fakes import Servers  # noqa: E402
from integrations.gong.sync import gong_sync  # noqa: E402
from integrations.salesforce.sync import SYNC_OBJECTS, salesforce_sync  # noqa: E402
from integrations.services import credential_set  # noqa: E402
from integrations.tests.fake_gong import FakeGong, gong_handler  # noqa: E402
from integrations.tests.fake_salesforce import FakeSalesforce, account_domain, demo_records, start_fake_salesforce  # noqa: E402
from integrations.warehouse.postgres import warehouse_connections_close  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

GONG_START = dt.datetime(2025, 6, 30, 15, 0, tzinfo=dt.timezone.utc)


def _rate(records: int, seconds: float) -> str:
    return f"{records / seconds:10.0f}" if seconds > 0 else f"{'-':>10}"


def _line(name: str, records: int, seconds: float, extra: str = "") -> str:
    return f"  {name:<26} {records:8d} records {seconds:8.2f} s {_rate(records, seconds)} records/s{extra}"


def scaled(records: dict[str, list[dict]], factor: int) -> dict[str, list[dict]]:
    """``records`` with ``factor`` copies of every Opportunity (copy k > 0 gets Id ``<Id>_k``)."""
    if factor <= 1:
        return records
    copies = [dict(o, Id=o["Id"] if k == 0 else f"{o['Id']}_{k}") for k in range(factor) for o in records["Opportunity"]]
    return {**records, "Opportunity": copies}


def salesforce_bench(servers: Servers, directory: Path, *, slug: str, factor: int, changes: int) -> None:
    """Full sync per object, then an incremental sync after ``changes`` updates and deletions."""
    directory.mkdir(parents=True, exist_ok=True)
    fake: FakeSalesforce = start_fake_salesforce(servers, directory)
    settings.SALESFORCE_CA_BUNDLE = fake.ca_path
    fake.seed(scaled(demo_records(), factor))
    tenant = tenant_create(slug=slug, name=slug, settings={"llm_provider": "offline", "actions": {"outbound_allowlist": ["127.0.0.1/32"]}})  # the fakes are on loopback
    credential_set(
        tenant=tenant, kind="salesforce",
        config={"instance_url": fake.instance_url, "login_url": fake.instance_url, "client_id": fake.client_id, "api_version": "59.0"},
        secrets={"refresh_token": fake.refresh_token, "client_secret": fake.client_secret},
    )
    label = "demo CSVs" if factor <= 1 else f"demo CSVs, opportunities x{factor}"
    print(f"\nSalesforce full sync ({label}; {fake.page_size} records a page), tenant {slug}:")
    total_records, total_seconds = 0, 0.0
    for obj in SYNC_OBJECTS:
        started = time.perf_counter()
        report = salesforce_sync(tenant=tenant, objects=[obj.api_name], retry_wait=0)
        seconds = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(f"the Salesforce sync of {obj.api_name} failed: {report.error}")
        fetched = sum(o.fetched for o in report.objects)
        total_records += fetched
        total_seconds += seconds
        print(_line(obj.api_name, fetched, seconds))
    print(_line("total", total_records, total_seconds))

    opportunities = sorted(fake.records["Opportunity"])[:changes]
    tasks = sorted(fake.records["Task"])[:changes]
    for record_id in opportunities:
        fake.update("Opportunity", record_id, NextStep="Send the order form")
    for record_id in tasks:
        fake.delete("Task", record_id)
    started = time.perf_counter()
    report = salesforce_sync(tenant=tenant, retry_wait=0)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the incremental Salesforce sync failed: {report.error}")
    fetched = sum(o.fetched for o in report.objects)
    upserted = sum(o.upserted for o in report.objects)
    deleted = sum(o.deleted for o in report.objects)
    print(f"  incremental second sync after {len(opportunities)} opportunity changes and {len(tasks)} task deletions:")
    print(_line("all objects", fetched, seconds, f"   ({upserted} rows changed, {deleted} deleted, {len(report.objects)} objects)"))


def _add_calls(fake: FakeGong, accounts: list[dict], *, first: int, count: int, newest: dt.datetime) -> None:
    rep = {"name": "Darcel Schlecht", "emailAddress": "darcel.schlecht@hardware.example", "affiliation": "Internal", "speakerId": "rep"}
    for i in range(count):
        account = accounts[(first + i) % len(accounts)]
        by_crm = (first + i) % 2 == 0
        fake.add_call(
            f"9{first + i:07d}", started=(newest - dt.timedelta(days=i, minutes=first % 60)).isoformat(),
            title=f"{account['Name']} call {first + i}", account_id=account["Id"] if by_crm else None,
            parties=[rep, {"name": "Pat Buyer", "emailAddress": f"pat.buyer@{account_domain(account['Name'])}", "speakerId": "cust"}],
            transcript=[("rep", "Thanks for making the time today; shall we go through the rollout plan?"),
                        ("cust", "Yes. The pilot went well and the team likes the integration."),
                        ("rep", "Good. What does the approval process look like on your side?"),
                        ("cust", "Procurement needs a security review and pricing by the end of the month.")],
        )


def gong_bench(servers: Servers, *, slug: str, calls: int, changes: int) -> None:
    """Gong sync of ``calls`` generated calls into the Salesforce tenant ``slug``, then an
    incremental sync after ``changes`` newer calls."""
    fake = FakeGong()
    fake.port = servers.start(gong_handler(fake))
    accounts = demo_records()["Account"]
    _add_calls(fake, accounts, first=0, count=calls, newest=GONG_START)
    tenant = Tenant.objects.get(slug=slug)
    credential_set(tenant=tenant, kind="gong",
                   config={"base_url": fake.base_url, "from_date": (GONG_START - dt.timedelta(days=calls + 1)).date().isoformat()},
                   secrets={"access_key": fake.access_key, "access_key_secret": fake.access_key_secret})
    print(f"\nGong sync ({calls} generated calls, {fake.page_size} a page, transcripts included), tenant {slug}:")
    started = time.perf_counter()
    report = gong_sync(tenant=tenant, wait_scale=0)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the Gong sync failed: {report.error}")
    print(_line("calls", report.fetched, seconds,
                f"   ({report.linked_crm} linked by CRM id, {report.linked_domain} by domain, {report.batches} pages)"))
    _add_calls(fake, accounts, first=calls, count=changes, newest=GONG_START + dt.timedelta(days=changes))
    started = time.perf_counter()
    report = gong_sync(tenant=tenant, wait_scale=0)
    seconds = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"the incremental Gong sync failed: {report.error}")
    print(f"  incremental second sync after {changes} new calls:")
    print(_line("calls", report.fetched, seconds, f"   ({report.upserted} rows inserted or changed)"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_throughput", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="copies of every opportunity in the scaled run (default 10; 1 = skip it)")
    parser.add_argument("--calls", type=int, default=2000, help="generated Gong calls (default 2000)")
    parser.add_argument("--changes", type=int, default=50, help="changed/deleted records before each second sync (default 50)")
    args = parser.parse_args(argv)
    if not (1 <= args.scale <= 100 and 1 <= args.calls <= 100_000 and 0 <= args.changes <= 5_000):
        parser.error("scale 1-100, calls 1-100000, changes 0-5000")

    for name in ("integrations", "simple_salesforce", "httpx", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    recreate_database(DATABASE)
    servers = Servers()
    try:
        print(f"setting up database {DATABASE} (migrate)...", flush=True)
        call_command("migrate", "--noinput", verbosity=0)
        with tempfile.TemporaryDirectory(prefix="revops-bench-sync-") as tmp:
            salesforce_bench(servers, Path(tmp), slug="bench-sf", factor=1, changes=args.changes)
            if args.scale > 1:
                salesforce_bench(servers, Path(tmp) / "scaled", slug=f"bench-sf-x{args.scale}", factor=args.scale, changes=args.changes)
            gong_bench(servers, slug="bench-sf", calls=args.calls, changes=args.changes)
    finally:
        servers.close()
        warehouse_connections_close()
        connections.close_all()
        drop_database(DATABASE, roles=True)
    print("\nrecords/s: records read from the fake / wall-clock seconds of the sync call (loopback HTTP, JSON, upserts, commits);"
          " the fakes run in this process")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
