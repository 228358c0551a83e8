"""DRF glue shared by every API: one JSON error shape, the exception handler that never leaks a
traceback, the schema of error responses, the JSON 404 for unknown ``/api/`` routes and the
per-API-key throttles.

Every API error is ``{"error": {"code": str, "message": str, "fields": {name: [messages]} | null}}``
(DESIGN.md §5, typed schemas at boundaries): ``code`` is stable and machine-readable (e.g.
``validation_error``, ``not_authenticated``, ``not_found``, ``idempotency_conflict``,
``request_too_large``, ``throttled``), ``message`` is for humans, ``fields`` maps request fields to
their messages for validation errors and is null otherwise.
"""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from revops.lib.db_outage import api_unavailable_response, database_unavailable
from revops.lib.errors import error_body, error_json

logger = logging.getLogger(__name__)

# Codes DRF gives its exceptions that are renamed in the error body; every other code is kept.
_CODES = {"invalid": "validation_error"}


def error_response(http_status: int, code: str, message: str, fields: dict | None = None, headers: dict | None = None) -> Response:
    """A DRF response carrying :func:`error_body`."""
    return Response(error_body(code, message, fields), status=http_status, headers=headers)


def _as_fields(detail) -> dict:
    """DRF validation detail as ``{field: [messages]}`` (a bare list becomes ``non_field_errors``)."""
    if isinstance(detail, dict):
        return {str(name): _as_messages(value) for name, value in detail.items()}
    return {api_settings.NON_FIELD_ERRORS_KEY: _as_messages(detail)}


def _as_messages(value) -> list:
    if isinstance(value, dict):  # nested serializer: keep the structure, flattened one level
        return [f"{key}: {msg}" for key, sub in value.items() for msg in _as_messages(sub)]
    if isinstance(value, (list, tuple)):
        return [msg for item in value for msg in _as_messages(item)]
    return [str(value)]


def exception_handler(exc: Exception, context: dict) -> Response:
    """Every API error in the one shape: DRF's errors (headers such as ``WWW-Authenticate`` and
    ``Retry-After`` kept), 413 for oversized bodies, a plain 500 otherwise.

    The 500 body carries no traceback or exception text; the exception is logged (redacted).
    """
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, exceptions.ValidationError):
            fields = _as_fields(exc.detail)
            first = next((msgs[0] for msgs in fields.values() if msgs), "Invalid input.")
            response.data = error_body("validation_error", f"Invalid input: {first}", fields)
        else:
            detail = getattr(exc, "detail", "")
            default_code = getattr(exc, "default_code", "error")
            code = detail.code if isinstance(detail, exceptions.ErrorDetail) and detail.code else default_code
            response.data = error_body(_CODES.get(code, code), str(detail) or str(exc))
        return response
    if isinstance(exc, RequestDataTooBig):
        return error_response(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "request_too_large", "Request body too large.")
    if database_unavailable(exc):  # the database is down: 503 with Retry-After, not a 500
        return api_unavailable_response(context.get("request"), exc)
    logger.exception("unhandled API error in %s", context.get("view").__class__.__name__)
    return error_response(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "Internal error. It has been logged.")


@csrf_exempt  # any method, no session: a POST to a mistyped route gets the JSON 404, not a CSRF page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown ``/api/`` route (any method): a JSON 404 in the error shape, never an HTML page."""
    return error_json(404, "not_found", f"No API route {request.path!r}. See /api/v1/schema.")


# --- schema of errors -----------------------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. validation_error, not_found, idempotency_conflict, throttled")
    message = serializers.CharField(help_text="Human-readable explanation")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        allow_null=True,
        help_text="For validation errors: request field -> messages; null otherwise",
    )


class ErrorSerializer(serializers.Serializer):
    """Every error response of the API."""

    error = ErrorDetailSerializer()


_ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation_error` with `fields`, `parse_error` for malformed JSON, `invalid_idempotency_key`)",
    401: "Missing or invalid API key (`not_authenticated`, `authentication_failed`)",
    403: "The API key may not do this (`permission_denied`)",
    404: "Unknown, or belongs to another tenant (`not_found`)",
    406: "The Accept header does not allow application/json, the only representation (`not_acceptable`)",
    409: "Conflict: `idempotency_conflict` (the Idempotency-Key was used with another request) or `invalid_state`",
    413: "Request body too large (`request_too_large`)",
    415: "The body is not application/json (`unsupported_media_type`)",
    429: "Too many requests for this API key (`throttled`); retry after the `Retry-After` header's seconds",
    503: "The database is unavailable (`database_unavailable`); retry after the `Retry-After` header's seconds",
}


def error_responses(*codes: int, descriptions: dict[int, str] | None = None) -> dict:
    """``extend_schema(responses=...)`` entries for the given error statuses (``codes``, keys of
    ``_ERROR_DESCRIPTIONS``, e.g. ``400, 401, 406``), all :class:`ErrorSerializer`; 503 (database
    unavailable, revops.lib.db_outage) is added to every operation. ``descriptions`` replaces the
    generic description of a status with an operation-specific one (its statuses are listed too).
    Raises KeyError for a status without a description."""
    descriptions = descriptions or {}
    statuses = dict.fromkeys((*codes, *descriptions, 503))  # ordered, without duplicates
    return {code: OpenApiResponse(ErrorSerializer, description=descriptions.get(code) or _ERROR_DESCRIPTIONS[code]) for code in statuses}
