"""DRF glue shared by every API: the exception handler that never leaks a traceback."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def exception_handler(exc: Exception, context: dict) -> Response:
    """Return DRF's JSON error for API errors, 413 for oversized bodies, a plain JSON 500 otherwise.

    The 500 body carries no traceback or exception text; the exception is logged (redacted).
    """
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    logger.exception("unhandled API error in %s", context.get("view").__class__.__name__)
    return Response({"detail": "Internal error. It has been logged."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
