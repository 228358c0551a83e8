"""Schema entries for the error responses DRF gives before a view runs (content negotiation,
parsing) or from pagination, which :func:`revops.lib.api.error_responses` does not list.

Every entry is the one error shape (:class:`revops.lib.api.ErrorSerializer`). Kept apart from
``revops.lib.api`` only so the two can be edited independently; the descriptions follow the
same style.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse

from revops.lib.api import ErrorSerializer

_DESCRIPTIONS = {
    406: "The Accept header does not allow application/json, the only representation (`not_acceptable`)",
    415: "The body is not application/json (`unsupported_media_type`)",
}


def negotiation_error_responses(*codes: int) -> dict:
    """``extend_schema(responses=...)`` entries for 406 and/or 415 (``codes``), in the error shape."""
    return {code: OpenApiResponse(ErrorSerializer, description=_DESCRIPTIONS[code]) for code in codes}


def error_response_with(description: str) -> OpenApiResponse:
    """One error response in the error shape with an operation-specific ``description``."""
    return OpenApiResponse(ErrorSerializer, description=description)
