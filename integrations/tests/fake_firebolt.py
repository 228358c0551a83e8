"""A local fake of the Firebolt HTTP API that the official ``firebolt-sdk`` (1.19) speaks, so the
Firebolt warehouse connector is tested with the real SDK (DESIGN.md §3.9: external services
through their real client libraries against local fakes).

What the SDK calls, read from its source (``firebolt/db/connection.py``, ``client/auth``,
``db/cursor.py``, ``common/row_set``), and what this fake answers:

- ``POST /oauth/token`` on the *auth* host (the SDK derives it from ``api_endpoint`` by replacing
  the first host label with ``id``: ``api.app.firebolt.io`` -> ``id.app.firebolt.io``), form
  fields ``client_id``, ``client_secret``, ``grant_type=client_credentials``,
  ``audience=https://api.firebolt.io``: ``{"access_token", "expires_in", "token_type"}``, or
  ``401`` for unknown credentials (the SDK raises ``AuthorizationError``).
- ``GET /web/v3/account/<account>/engineUrl`` (bearer token): ``{"engineUrl": ...}``, the system
  engine's URL; ``404`` for an unknown account.
- ``POST <engine url>?output_format=JSON_Compact&database=..&engine=..&<settings>`` with the SQL
  text as the body: the system engine answers ``USE DATABASE "db"`` / ``USE ENGINE "e"`` with a
  ``Firebolt-Update-Parameters: database=db`` / ``engine=e`` header and an empty body; a query
  gets ``{"meta": [{"name", "type"}], "data": [[...]], "rows": n, "statistics": {...}}``
  (Firebolt type names: ``bigint``, ``integer``, ``double precision``, ``numeric(p, s)``,
  ``text``, ``date``, ``timestamp``, ``boolean``, ``" null"`` appended when nullable; numeric
  values as strings, as Firebolt sends them); a failing statement gets ``400`` with
  ``{"errors": [{"code", "name", "severity", "source", "description"}]}`` (the SDK raises
  ``FireboltStructuredError``).
- The ``statement_timeout`` setting (milliseconds, sent as a URL parameter like every Firebolt
  setting) cancels a statement that runs longer, with a ``400`` error saying so.

Where the fake differs from Firebolt on purpose (documented, not hidden):

- *One endpoint.* Firebolt answers ``USE ENGINE`` with a ``Firebolt-Update-Endpoint`` header
  holding the user engine's ``https`` host, which the SDK reduces to ``https://<host>`` (port and
  scheme dropped). A plain-HTTP loopback server cannot be reached that way, so the fake keeps
  serving the engine on the system engine's URL and answers ``USE ENGINE`` with
  ``Firebolt-Update-Parameters: engine=<name>`` instead; every query then carries
  ``engine=<name>``, which the fake checks.
- *Names.* The SDK reaches the auth host ``id.<rest of the api host>``. The tests use
  ``api_endpoint = http://api.localhost:<port>`` and :func:`localhost_names` makes every
  ``*.localhost`` name resolve to 127.0.0.1 (RFC 6761 §6.3: localhost names are loopback; the
  container's resolver only knows ``localhost`` itself). This is a resolver shim, not a patch of
  our code or of the SDK.
- *SQL.* Statements are transpiled with sqlglot from PostgreSQL (the dialect the connector writes,
  see :mod:`integrations.warehouse.firebolt_engine`) to DuckDB and run on an in-memory DuckDB
  holding the demo CRM tables in schema ``public``, loaded with the import service's own reading
  and typing (:func:`integrations.warehouse.importer.import_files_read`), so answers are real. A
  bare ``NUMERIC`` is given Firebolt's default precision and scale, ``NUMERIC(38, 9)`` (Firebolt
  documentation, "NUMERIC data type"); DuckDB's own default would be ``DECIMAL(18, 3)``.

Failure switches for tests: :attr:`FakeFirebolt.fail_next` (a queue of ``(status, body,
content_type, headers)`` answers given to the next engine requests, for 429/503/500 and malformed
JSON), :attr:`FakeFirebolt.delay_seconds` (each query waits that long first, honouring
``statement_timeout``) and :attr:`FakeFirebolt.hang_seconds` (each query waits that long ignoring
``statement_timeout``, for the client-side timeout). :attr:`FakeFirebolt.requests` records every
request (method, path, params, body; form bodies of the token endpoint are recorded without the
secret).
"""

from __future__ import annotations

import json
import secrets as pysecrets
import socket
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
import sqlglot
from sqlglot import exp

from integrations.warehouse.firebolt_engine import firebolt_connections_close

CRM_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "demo_crm"
SCHEMA = "public"


# --- resolver shim ------------------------------------------------------------------------------

_shim_lock = threading.Lock()
_shim_depth = 0
_real_getaddrinfo = socket.getaddrinfo


def _loopback_getaddrinfo(host: Any, *args: Any, **kwargs: Any):
    if isinstance(host, (str, bytes)):
        name = host.decode() if isinstance(host, bytes) else host
        if name.lower().rstrip(".").endswith(".localhost"):
            host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


@contextmanager
def localhost_names() -> Iterator[None]:
    """Within the block, ``*.localhost`` names resolve to 127.0.0.1 in this process (RFC 6761
    §6.3), as the SDK needs ``api.localhost`` and ``id.localhost`` for one loopback server.
    Re-entrant; other names resolve as before."""
    global _shim_depth
    with _shim_lock:
        if _shim_depth == 0:
            socket.getaddrinfo = _loopback_getaddrinfo
        _shim_depth += 1
    try:
        yield
    finally:
        with _shim_lock:
            _shim_depth -= 1
            if _shim_depth == 0:
                socket.getaddrinfo = _real_getaddrinfo


# --- SQL -----------------------------------------------------------------------------------------


def firebolt_type(duck_type: str, nullable: bool = True) -> str:
    """The Firebolt type name the JSON ``meta`` gives for a DuckDB result type."""
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        inner = t[len("DECIMAL") :].strip("()") or "18,3"
        p, s = (x.strip() for x in inner.split(","))
        name = f"numeric({p}, {s})"
    elif t in ("BIGINT", "HUGEINT", "UBIGINT", "UINTEGER"):
        name = "bigint"
    elif t in ("INTEGER", "SMALLINT", "TINYINT", "USMALLINT", "UTINYINT"):
        name = "integer"
    elif t in ("DOUBLE", "FLOAT", "REAL"):
        name = "double precision"
    elif t == "DATE":
        name = "date"
    elif t.startswith("TIMESTAMP"):
        name = "timestamptz" if "TIME ZONE" in t or t.endswith("TZ") else "timestamp"
    elif t == "BOOLEAN":
        name = "boolean"
    else:
        name = "text"
    return f"{name} null" if nullable else name


def json_value(value: Any) -> Any:
    """One cell as Firebolt's JSON_Compact writes it (numeric as a string, dates ISO)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value).lower()
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f") if value.microsecond else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def to_duckdb(sql: str) -> str:
    """PostgreSQL text (as the connector sends it) as DuckDB runs it, with Firebolt's
    ``NUMERIC(38, 9)`` default for a bare ``NUMERIC``."""
    tree = sqlglot.parse_one(sql, read="postgres")
    for node in list(tree.find_all(exp.DataType)):
        if node.this == exp.DataType.Type.DECIMAL and not node.expressions:
            node.replace(exp.DataType.build("DECIMAL(38, 9)"))
    return tree.sql(dialect="duckdb")


class QueryFailed(Exception):
    """A statement error the fake answers with a Firebolt ``errors`` body."""

    def __init__(self, description: str, *, name: str = "QueryError", code: str = "QUERY_ERROR") -> None:
        super().__init__(description)
        self.description, self.name, self.code = description, name, code


# --- server --------------------------------------------------------------------------------------


@dataclass
class FakeFirebolt:
    """The fake's state; :meth:`start` serves it on a free loopback port.

    ``account``, ``database``, ``engine``: the names that exist; ``client_id`` /
    ``client_secret``: the one valid service account.
    """

    account: str = "revops-test"
    database: str = "crm"
    engine: str = "reader"
    client_id: str = "fake-client-id"
    client_secret: str = field(default_factory=lambda: "fake-secret-" + pysecrets.token_hex(8))
    token_ttl_seconds: int = 3600
    fail_next: deque = field(default_factory=deque)
    delay_seconds: float = 0.0
    hang_seconds: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _db: Any = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, *, db: Any | None = None) -> "FakeFirebolt":
        """Serve on 127.0.0.1; ``db``: a DuckDB connection to share (else the demo CRM tables
        are loaded into a new in-memory database)."""
        self._db = db if db is not None else demo_database()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving (the shared database stays open for its owner)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def api_endpoint(self) -> str:
        """What the connector config's ``api_endpoint`` must be (needs :func:`localhost_names`)."""
        return f"http://api.localhost:{self.port}"

    @property
    def engine_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/engine"

    def connector_config(self, **extra: Any) -> dict[str, Any]:
        """A ``warehouse_firebolt`` connector config pointing here."""
        return {
            "account_name": self.account, "engine_name": self.engine, "database": self.database,
            "schema": SCHEMA, "api_endpoint": self.api_endpoint, **extra,
        }

    def queries(self) -> list[str]:
        """SQL texts the engine received (USE statements excluded)."""
        return [r["body"] for r in self.requests if r["path"] == "/engine" and not r["body"].upper().startswith("USE ")]

    # -- SQL --------------------------------------------------------------------------------------

    def run_sql(self, sql: str, timeout_ms: int | None) -> dict[str, Any]:
        """Execute on DuckDB; the JSON_Compact document. Raises QueryFailed."""
        try:
            text = to_duckdb(sql)
        except sqlglot.errors.SqlglotError as exc:
            raise QueryFailed(f"syntax error: {str(exc).splitlines()[0]}", name="SyntaxError", code="SYNTAX_ERROR") from None
        cur = self._db.cursor()
        timer = None
        if timeout_ms:
            timer = threading.Timer(timeout_ms / 1000.0, cur.interrupt)
            timer.daemon = True
            timer.start()
        started = time.monotonic()
        try:
            cur.execute(f"SET search_path = '{SCHEMA}'")
            cur.execute(text)
            rows = cur.fetchall() if cur.description else []
            description = cur.description or []
        except duckdb.InterruptException:
            raise QueryFailed(f"query was canceled: statement_timeout of {timeout_ms} ms exceeded", name="QueryCanceled", code="STATEMENT_TIMEOUT") from None
        except duckdb.Error as exc:
            raise QueryFailed(str(exc).split("\n")[0]) from None
        finally:
            if timer is not None:
                timer.cancel()
            cur.close()
        elapsed = time.monotonic() - started
        meta = [{"name": d[0], "type": firebolt_type(str(d[1]))} for d in description]
        return {
            "meta": meta,
            "data": [[json_value(v) for v in row] for row in rows],
            "rows": len(rows),
            "statistics": {"elapsed": elapsed, "rows_read": len(rows), "bytes_read": 0},
        }


def demo_database(csv_dir: Path = CRM_DIR) -> Any:
    """An in-memory DuckDB with the demo CSVs as tables of schema ``public`` (read and typed by
    the import service, written by its DuckDB loader into a temporary file, then copied)."""
    from integrations.warehouse.importer import import_files_read, import_tables_load_duckdb

    tables = import_files_read([csv_dir])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fake_firebolt.duckdb"
        import_tables_load_duckdb(path=path, schema=SCHEMA, tables=tables)
        db = duckdb.connect(":memory:")
        db.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
        db.execute(f"CREATE SCHEMA {SCHEMA}")
        for t in tables:
            db.execute(f'CREATE TABLE {SCHEMA}."{t.name}" AS SELECT * FROM src.{SCHEMA}."{t.name}"')
        db.execute("DETACH src")
    return db


def _handler_for(fake: FakeFirebolt) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer (a loopback artefact, not Firebolt's).
        disable_nagle_algorithm = True

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        # -- helpers ------------------------------------------------------------------------------

        def _send(self, status: int, body: Any = b"", content_type: str = "application/json", headers: dict | None = None) -> None:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            elif isinstance(body, str):
                body = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, description: str, *, name: str = "QueryError", code: str = "QUERY_ERROR") -> None:
            self._send(status, {"errors": [{"code": code, "name": name, "severity": "ERROR", "source": "Fake Firebolt", "description": description}]})

        def _authorized(self) -> bool:
            header = self.headers.get("Authorization", "")
            return header.startswith("Bearer ") and header[len("Bearer ") :] in fake.tokens

        def _body(self) -> str:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length).decode("utf-8") if length else ""

        # -- routes -------------------------------------------------------------------------------

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            fake.requests.append({"method": "GET", "path": url.path, "params": dict(parse_qsl(url.query)), "body": "", "host": self.headers.get("Host", "")})
            prefix, suffix = "/web/v3/account/", "/engineUrl"
            if url.path.startswith(prefix) and url.path.endswith(suffix):
                if not self._authorized():
                    return self._send(401, {"error": "unauthenticated", "code": 16, "message": "invalid or expired token"})
                account = url.path[len(prefix) : -len(suffix)]
                if account != fake.account:
                    return self._send(404, {"error": "not found", "code": 5, "message": f"account {account!r} not found"})
                return self._send(200, {"engineUrl": f"{fake.engine_url}?account_id=acc-{fake.port}"})
            self._send(404, {"error": "not found", "code": 5, "message": url.path})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            params = dict(parse_qsl(url.query))
            body = self._body()
            path = url.path.rstrip("/") or "/"  # the SDK posts to "<engine url>/"
            record = {"method": "POST", "path": path, "params": params, "body": body, "host": self.headers.get("Host", "")}
            if path == "/oauth/token":
                form = dict(parse_qsl(body))
                record["body"] = json.dumps({k: ("***" if k == "client_secret" else v) for k, v in form.items()})
                fake.requests.append(record)
                if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret or form.get("grant_type") != "client_credentials":
                    return self._send(401, {"error": "access_denied", "error_description": "Unauthorized"})
                token = "fake-token-" + pysecrets.token_hex(12)
                fake.tokens.add(token)
                return self._send(200, {"access_token": token, "expires_in": fake.token_ttl_seconds, "token_type": "Bearer", "scope": ""})
            fake.requests.append(record)
            if path != "/engine":
                return self._send(404, {"error": "not found", "code": 5, "message": path})
            if not self._authorized():
                return self._send(401, {"error": "unauthenticated", "code": 16, "message": "invalid or expired token"})
            if fake.fail_next:
                status, payload, content_type, headers = fake.fail_next.popleft()
                return self._send(status, payload, content_type, headers)
            if params.get("output_format") not in ("JSON_Compact", "JSONLines_Compact"):
                return self._error(400, f"unsupported output_format {params.get('output_format')!r}")
            return self._query(body.strip().rstrip(";").strip(), params)

        def _query(self, sql: str, params: dict[str, str]) -> None:
            upper = sql.upper()
            if upper.startswith("USE DATABASE"):
                name = sql[len("USE DATABASE") :].strip().strip('"')
                if name != fake.database:
                    return self._error(400, f"Database '{name}' does not exist or not authorized.", name="DatabaseNotFound", code="DATABASE_NOT_FOUND")
                return self._send(200, b"", headers={"Firebolt-Update-Parameters": f"database={name}"})
            if upper.startswith("USE ENGINE"):
                name = sql[len("USE ENGINE") :].strip().strip('"')
                if name != fake.engine:
                    return self._error(400, f"Engine '{name}' does not exist or not authorized.", name="EngineNotFound", code="ENGINE_NOT_FOUND")
                return self._send(200, b"", headers={"Firebolt-Update-Parameters": f"engine={name}"})
            if params.get("database") != fake.database:
                return self._error(400, "no database selected: run USE DATABASE first")
            if params.get("engine") != fake.engine:
                return self._error(400, "queries on the system engine may only read information_schema; run USE ENGINE first")
            timeout_ms = int(params["statement_timeout"]) if params.get("statement_timeout", "").isdigit() else None
            if fake.hang_seconds:
                time.sleep(fake.hang_seconds)
            if fake.delay_seconds:
                if timeout_ms and fake.delay_seconds * 1000 > timeout_ms:
                    time.sleep(timeout_ms / 1000.0)
                    return self._error(400, f"query was canceled: statement_timeout of {timeout_ms} ms exceeded", name="QueryCanceled", code="STATEMENT_TIMEOUT")
                time.sleep(fake.delay_seconds)
            try:
                document = fake.run_sql(sql, timeout_ms)
            except QueryFailed as exc:
                return self._error(400, exc.description, name=exc.name, code=exc.code)
            self._send(200, document)

    return Handler


@contextmanager
def fake_firebolt_server(*, db: Any | None = None, **kwargs: Any) -> Iterator[FakeFirebolt]:
    """A started :class:`FakeFirebolt` with :func:`localhost_names` active; stopped on exit.
    Account names are made unique per server (the SDK caches the system engine URL per
    credentials and account name, not per endpoint)."""
    kwargs.setdefault("account", f"revops-test-{pysecrets.token_hex(4)}")
    fake = FakeFirebolt(**kwargs).start(db=db)
    try:
        with localhost_names():
            yield fake
    finally:
        firebolt_connections_close()
        fake.stop()
