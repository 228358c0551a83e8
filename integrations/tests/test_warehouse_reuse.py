"""Warehouse connections are reused per login within a process, with the read-only transaction,
statement timeout and search_path set again on every use; a statement's session changes end
with its transaction."""

from __future__ import annotations

import os
import time

import pytest

from integrations.warehouse import postgres as postgres_module
from integrations.warehouse.base import WarehouseQueryError
from integrations.warehouse.postgres import PostgresWarehouse, warehouse_connections_close

from .test_warehouse_postgres import Demo, demo  # noqa: F401 - the demo warehouse fixture


def _backend_pid(wh: PostgresWarehouse) -> int:
    # pg_backend_pid() is not on the SQL guard's function allow list (issue 13): raw SQL, still read-only.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(postgres_module, "validate_select", lambda sql, **kwargs: sql)
        return wh.execute("SELECT pg_backend_pid() AS pid").rows[0][0]


def test_consecutive_statements_share_one_session_with_settings_each_time(demo: Demo) -> None:
    wh = demo.warehouse()
    first = _backend_pid(wh)
    assert _backend_pid(wh) == first
    # A new connector object with the same login (the next run) reuses it too.
    assert _backend_pid(demo.warehouse()) == first


def test_settings_and_role_hold_on_a_reused_connection(demo: Demo, monkeypatch) -> None:
    wh = demo.warehouse()
    _backend_pid(wh)  # leaves one idle connection
    monkeypatch.setattr(postgres_module, "validate_select", lambda sql, **kwargs: sql)  # raw SQL, still read-only
    with pytest.raises(WarehouseQueryError, match="read-only transaction"):
        wh.execute("INSERT INTO accounts (account_id, account) VALUES (1, 'x')")
    # A session-level SET inside the statement's transaction is rolled back with it.
    wh.execute("SELECT set_config('search_path', 'public', false)")
    settings = wh.execute(
        "SELECT current_user, current_setting('transaction_read_only'), current_setting('statement_timeout'), current_setting('search_path')"
    ).rows[0]
    assert settings[0] == demo.role and settings[1] == "on"
    ms = wh.statement_timeout_ms  # PostgreSQL shows whole seconds as "15s"
    assert settings[2] == (f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms")
    assert settings[3] == wh.schema


def test_pool_is_bounded_and_not_reused_across_fork(demo: Demo, settings) -> None:
    settings.WAREHOUSE_POOL_MAX_SIZE = 2
    wh = demo.warehouse()
    pool = wh._pool()
    conns = [pool.getconn(timeout=5) for _ in range(2)]
    with pytest.raises(postgres_module.PoolTimeout):
        pool.getconn(timeout=0.2)  # at most WAREHOUSE_POOL_MAX_SIZE per login
    for conn in conns:
        pool.putconn(conn)
    parent_pids = {c.info.backend_pid for c in conns}
    pid = os.fork()
    if pid == 0:  # the child must open its own connection, never use the parent's sockets
        code = 0
        try:
            code = 0 if _backend_pid(wh) not in parent_pids else 1
        except BaseException:  # noqa: BLE001
            code = 2
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _backend_pid(wh) in parent_pids  # the parent's sessions still work
    assert warehouse_connections_close() == 2


def test_a_connection_idle_too_long_is_replaced(demo: Demo, monkeypatch) -> None:
    monkeypatch.setattr(postgres_module, "IDLE_MAX_SECONDS", 0.2)  # the pool reads it when made
    wh = demo.warehouse()
    first = _backend_pid(wh)
    deadline = time.monotonic() + 10
    while wh._pool().get_stats().get("pool_size", 0) and time.monotonic() < deadline:
        time.sleep(0.1)  # the pool's maintenance closes the idle connection
    assert _backend_pid(wh) != first

