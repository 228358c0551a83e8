"""Every ``.unscoped()`` call outside tests and migrations is pinned here with its reason.

Tenant-owned rows are read through the scoped manager: ``Model.objects`` inside
``tenant_context``, or ``Model.objects.for_tenant(tenant)`` in a service given a tenant.
``Model.objects.unscoped()`` remains only where work really spans tenants: claims by id before
the tenant is known, task loaders, dispatchers and maintenance, operator metrics, and
superusers in the admin. This test scans the project's source (AST, so comments and strings do
not count) and fails on a call site that is not listed below, and on a listed site that no
longer calls ``.unscoped()`` (remove it from the list). A site is ``(path, function)``, the
function as ``Class.method`` when it is a method.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED_FOLDERS = {"tests", "migrations", ".venv", "venv", "node_modules", "__pycache__"}
MAX_SITES = 15

PINNED: dict[tuple[str, str], str] = {
    # Claims by id, the reaper and the resender: one place for runs and actions.
    ("revops/lib/lease.py", "Lease._all_tenants"): "claims by id come before the tenant is known; "
    "the reaper and the lost-message resender cover every tenant (runs and actions)",
    # Task loaders (actions, documents, schedules): the tenant comes from the row.
    ("tenants/models.py", "TenantScopedManager.for_task"): "the task loader's read: a task is given an id and "
    "resolves the tenant from the row (DESIGN.md §3.4)",
    # Entry points that resolve the tenant.
    ("tenants/services.py", "apikey_authenticate"): "the API key is what tells the tenant (lookup by prefix)",
    ("integrations/slack/verification.py", "slack_endpoint_get"): "the Slack route resolves the tenant from "
    "the URL's slug (DESIGN.md §3.4)",
    ("tenants/admin_base.py", "tenant_rows"): "superusers administer every tenant in the admin "
    "(members get for_tenants(their memberships))",
    # Maintenance across tenants.
    ("tenants/idempotency.py", "idempotency_keys_purge"): "maintenance: expired idempotency keys of every tenant",
    ("integrations/tasks.py", "slack_events_purge"): "maintenance: old Slack event ids of every tenant",
    ("integrations/tasks.py", "connector_syncs_dispatch"): "dispatcher: Salesforce/Gong connectors of every tenant that opted into scheduled syncs",
    ("integrations/services.py", "credentials_rotate"): "maintenance: re-encrypt every tenant's credentials",
    # Operator views.
    ("revops/metrics.py", "DatabaseCollector.collect"): "operator metrics: runs and actions of every tenant",
    ("revops/health.py", "queue_snapshot"): "operator readiness: queue depth and ages over every tenant",
    ("integrations/health.py", "connectors_unhealthy"): "operator readiness: unhealthy connectors of every tenant",
    # Not yet converted (the tenant is known there): files owned by the layering work.
    ("actions/callback_status.py", "run_callback_status_store"): "run updated by pk: to move to for_tenant(run's tenant)",
}


def _project_files() -> list[Path]:
    files = []
    for path in sorted(ROOT.rglob("*.py")):
        folders = path.relative_to(ROOT).parts[:-1]
        if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in folders):
            continue
        files.append(path)
    return files


def unscoped_calls() -> Counter[tuple[str, str]]:
    """``{(path, function): number of .unscoped() calls}`` over the project's source files."""
    found: Counter[tuple[str, str]] = Counter()

    def visit(node: ast.AST, scope: list[str], path: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, [*scope, child.name], path)
                continue
            if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) and child.func.attr == "unscoped":
                found[(path, ".".join(scope) or "<module>")] += 1
            visit(child, scope, path)

    for file in _project_files():
        path = file.relative_to(ROOT).as_posix()
        visit(ast.parse(file.read_text(encoding="utf-8"), filename=path), [], path)
    return found


def test_the_scan_sees_the_project_and_finds_calls_in_nested_code():
    files = {f.relative_to(ROOT).as_posix() for f in _project_files()}
    assert {"manage.py", "tenants/models.py", "revops/lib/lease.py"} <= files
    assert not any("/tests/" in f or f.startswith("tests/") or "/migrations/" in f for f in files)
    # The scanner itself: a call inside a method of a class, and one at module level.
    tree = ast.parse("class A:\n    def f(self):\n        return [M.objects.unscoped() for _ in x]\nM.objects.unscoped()\n")
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "unscoped"]
    assert len(calls) == 2


def test_every_unscoped_call_site_is_pinned_with_its_reason():
    found = unscoped_calls()
    unlisted = sorted(set(found) - set(PINNED))
    gone = sorted(set(PINNED) - set(found))
    assert not unlisted, (
        f"unlisted .unscoped() call sites {unlisted}: use Model.objects.for_tenant(tenant) when the tenant is known, "
        "or pin the site here with the reason it spans tenants"
    )
    assert not gone, f"pinned sites that no longer call .unscoped(): {gone}; remove them from PINNED"


def test_at_most_fifteen_sites_each_with_a_reason():
    assert len(PINNED) <= MAX_SITES
    assert all(reason.strip() for reason in PINNED.values())
