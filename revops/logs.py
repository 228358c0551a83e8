"""Log records with their context (tenant, run, action) as JSON or text, secrets redacted.

Named ``logs`` rather than ``logging`` so that running a script from inside ``revops/`` never
shadows the standard library module.

``LOGGING`` in ``revops/settings.py`` puts two filters on the console handler, in this order:
:class:`ContextFilter` (adds ``tenant``, ``run_id``, ``action_id`` to every record) and
:class:`revops.lib.redact.RedactingFilter` (message and traceback). The formatter is
:class:`JsonFormatter` (``LOG_FORMAT=json``, the default under ``REVOPS_PRODUCTION=1``) or
:class:`TextFormatter`.

The tenant comes from :mod:`tenants.context` (set once per entry point); the run and action ids
from :func:`log_context`, entered where a run or an action starts executing
(``agents.tasks.execute_run``, ``actions.services.action_execute``).
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from typing import Any, Iterator

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter

from revops.lib.redact import redact

_run_id: ContextVar[int | None] = ContextVar("log_run_id", default=None)
_action_id: ContextVar[int | None] = ContextVar("log_action_id", default=None)

# Attributes the ContextFilter sets on every record (None when unknown).
CONTEXT_FIELDS = ("tenant", "run_id", "action_id")


@contextlib.contextmanager
def log_context(*, run_id: int | None = None, action_id: int | None = None) -> Iterator[None]:
    """Tag log records inside the block with ``run_id`` and/or ``action_id`` (None leaves the
    outer value). Nesting restores the outer values on exit; correct per thread and asyncio task."""
    tokens = []
    if run_id is not None:
        tokens.append((_run_id, _run_id.set(run_id)))
    if action_id is not None:
        tokens.append((_action_id, _action_id.set(action_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Adds ``record.tenant`` (the slug), ``record.run_id`` and ``record.action_id`` (None when
    unknown). A value passed through ``extra=`` wins over the context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "tenant", None) is None:
            record.tenant = _tenant_slug()
        if getattr(record, "run_id", None) is None:
            record.run_id = _run_id.get()
        if getattr(record, "action_id", None) is None:
            record.action_id = _action_id.get()
        return True


def _tenant_slug() -> str | None:
    try:
        from tenants.context import current_tenant_or_none
    except Exception:  # logging during start-up, before the apps are importable
        return None
    tenant = current_tenant_or_none()
    return getattr(tenant, "slug", None) if tenant is not None else None


class JsonFormatter(_BaseJsonFormatter):
    """One JSON object per line: ``time`` (ISO 8601, UTC offset), ``level``, ``logger``,
    ``message``, then ``tenant``/``run_id``/``action_id`` when known, ``exc_info`` for tracebacks,
    and any ``extra=`` fields. The whole object goes through :func:`revops.lib.redact.redact`, so
    an ``extra`` key naming a secret (``token``, ``password``...) or a secret-looking value is
    replaced by ``[REDACTED]``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 (stdlib name)
        from datetime import datetime, timezone

        return datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds")

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for name in CONTEXT_FIELDS:
            if log_data.get(name) is None:
                log_data.pop(name, None)
        # Objects (Django's ``request`` extra, exceptions) are written as their str(): make that
        # string now so it is redacted too.
        return redact({key: _plain(value) for key, value in log_data.items()})


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


class TextFormatter(logging.Formatter):
    """``2025-01-01 12:00:00,000 INFO agents.services [tenant=acme run=12] message`` (the bracket
    only with what is known)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(context)s%(message)s")
        super().__init__(*args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        # A copy: the record is shared with the other handlers (a JSON one must not see ``context``).
        record = logging.makeLogRecord(record.__dict__)
        parts = [
            f"{label}={value}"
            for label, value in (
                ("tenant", getattr(record, "tenant", None)),
                ("run", getattr(record, "run_id", None)),
                ("action", getattr(record, "action_id", None)),
            )
            if value is not None
        ]
        record.context = f"[{' '.join(parts)}] " if parts else ""
        return super().format(record)
