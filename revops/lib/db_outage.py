"""Database unavailable: 503 with ``Retry-After`` instead of a 500 (issue 13, finding 5).

When PostgreSQL is down, restarting, refusing connections or the connection drops mid-request,
Django raises ``django.db.OperationalError`` (connection-class SQLSTATE or none at all, since the
client never reached a server) or ``django.db.InterfaceError`` (a connection already closed). Those
are not bugs in the request: the client should retry later.

- ``/api/...``: ``503`` JSON in the API's error shape (``revops.lib.errors.error_json``) with code
  ``database_unavailable`` and ``Retry-After: RETRY_AFTER_SECONDS``, built by one function,
  :func:`api_unavailable_response`: DRF views catch the exception first, and
  :func:`revops.lib.api.exception_handler` returns that response (DRF passes a plain Django
  response through); plain Django views under ``/api/`` get it from the middleware below.
- ``/slack/...``: a plain-text ``503`` with ``Retry-After``, so Slack retries the delivery later
  (a 200 would drop the event; an HTML 500 page is what it got before).
- Other routes are left to Django (the admin keeps its error page / DEBUG traceback).

What counts as "unavailable" (:func:`database_unavailable`): any ``InterfaceError``; an
``OperationalError`` whose underlying psycopg error has no SQLSTATE (connection refused, socket
gone, server closed the connection unexpectedly) or SQLSTATE class ``08`` (connection
exception), ``57P01``/``57P02``/``57P03`` (admin shutdown, crash shutdown, cannot connect now) or
``53300`` (too many connections). Other ``OperationalError`` s (statement timeout ``57014``,
deadlock, lock not available) are query failures, not outages, and keep their 500.

The outage is logged once per request at WARNING with the exception class and the path only (the
driver's message names hosts and users: it stays out of responses).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

from revops.lib.errors import error_json

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30  # what the 503s ask clients to wait; Slack uses its own retry schedule
API_PREFIX = "/api/"
SLACK_PREFIX = "/slack/"
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
MESSAGE = "The database is temporarily unavailable. Retry after the Retry-After header's seconds."


def database_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` means the database cannot be reached (see the module docstring).

    Looks at ``exc`` and its ``__cause__`` chain (Django wraps psycopg's errors, keeping the
    original as the cause), so the psycopg error's ``sqlstate`` decides.
    """
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    sqlstate: str | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        sqlstate = getattr(current, "sqlstate", None) or sqlstate
        current = current.__cause__
    if sqlstate is None:
        return True
    return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES


def _log(request: HttpRequest | None, exc: BaseException) -> None:
    path = request.path[:200] if request is not None else "?"
    logger.warning("database unavailable (%s) during %s: answering 503", type(exc).__name__, path)


def api_unavailable_response(request: HttpRequest | None, exc: BaseException) -> JsonResponse:
    """The API's 503 ``{"error": {"code": "database_unavailable", "message": ...}}`` with
    ``Retry-After`` (logged once); used by the middleware and by
    :func:`revops.lib.api.exception_handler`."""
    _log(request, exc)
    response = error_json(503, "database_unavailable", MESSAGE)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse | None:
    """The 503 for ``request``'s route (JSON under ``/api/``, plain text under ``/slack/``), or None
    for other routes."""
    if request.path.startswith(API_PREFIX):
        return api_unavailable_response(request, exc)
    if not request.path.startswith(SLACK_PREFIX):
        return None
    _log(request, exc)
    response = HttpResponse(
        "Service temporarily unavailable (database); retry later.\n", status=503, content_type="text/plain; charset=utf-8"
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Turns a database outage raised by a view under ``/api/`` or ``/slack/`` into a 503 with
    ``Retry-After`` (``process_exception``; DRF views are handled by the API exception handler)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not database_unavailable(exception):
            return None
        return unavailable_response(request, exception)
