"""The one JSON error shape, for DRF views and for plain Django views and middleware alike.

``{"error": {"code": str, "message": str, "fields": {name: [messages]} | null}}`` (DESIGN.md §5;
the codes are listed in :mod:`revops.lib.api`). Depends on Django only, so middleware that runs
before DRF is loaded (:mod:`revops.lib.db_outage`) can use it.
"""

from __future__ import annotations

from django.http import JsonResponse


def error_body(code: str, message: str, fields: dict | None = None) -> dict:
    """The one error shape: ``{"error": {"code", "message", "fields"}}``."""
    return {"error": {"code": code, "message": message, "fields": fields}}


def error_json(http_status: int, code: str, message: str) -> JsonResponse:
    """The same shape for plain Django views and middleware (outside DRF)."""
    return JsonResponse(error_body(code, message), status=http_status)
