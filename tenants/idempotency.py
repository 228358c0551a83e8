"""``Idempotency-Key`` for the API's POST endpoints (runs, action approve/reject).

The first result of a request is stored with its key and returned, same status and body, for any
later request with the same key and the same request (method, path, JSON body); the same key with
another request is a 409 ``idempotency_conflict``. Keys are scoped per tenant (any of the tenant's
API keys sees the same record, so a retry after a key rotation is still a replay) and expire after
24 hours.

Concurrency: the record is inserted, and the work done, in one transaction. A concurrent request
with the same key blocks on the unique ``(tenant, key)`` index until the first commits, then reads
its stored result; if the first failed with a 5xx (rolled back), the second runs as the first.

What is stored: every response below 500 except 401, 403 and 429 (those say nothing about the
request itself: a retry with a valid key, a permitted key or after the wait must run it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Callable

from django.db import transaction
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from revops.lib.api import error_response
from tenants.models import IdempotencyKey

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
MAX_KEY_CHARS = 255
_NOT_STORED = {401, 403, 429}
_KEPT_HEADERS = ("Location",)

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Optional, 1-255 printable ASCII characters, scoped to the tenant, kept 24 h. A repeated key returns the first "
    "result (same status and body, header `Idempotent-Replayed: true`); the same key with another body is a 409 `idempotency_conflict`.",
)


def idempotency_keys_purge() -> int:
    """Daily: delete expired records of every tenant (lookups already ignore them). Returns the count."""
    deleted, _ = IdempotencyKey.objects.unscoped().filter(expires_at__lt=timezone.now()).delete()  # maintenance across tenants
    return deleted


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method}\n{request.path}\n{body}".encode()).hexdigest()


def _call(view, handler: Callable[[], Response]) -> Response:
    try:
        return handler()
    except APIException as exc:  # turn it into the response DRF would send, so it can be stored
        return view.handle_exception(exc)


def _replay(record: IdempotencyKey) -> Response:
    return Response(record.response_body, status=record.status_code, headers={**record.response_headers, "Idempotent-Replayed": "true"})


def idempotent(view, request, handler: Callable[[], Response]) -> Response:
    """Run ``handler`` once per ``Idempotency-Key`` (when the header is present) and return its
    response, or the stored first response of an earlier request with the same key and body.

    ``view`` is the DRF view (its ``handle_exception`` turns API errors into responses).
    Without the header ``handler`` simply runs. The tenant comes from the API key (``request.tenant``).
    """
    raw = request.headers.get(HEADER)
    if raw is None:
        return handler()
    key = raw.strip()
    if not key or len(key) > MAX_KEY_CHARS or not (key.isascii() and key.isprintable()):
        return error_response(400, "invalid_idempotency_key", f"{HEADER} must be 1 to {MAX_KEY_CHARS} printable ASCII characters.")
    fingerprint = _fingerprint(request)  # a malformed body raises ParseError here: a 400, nothing stored
    now = timezone.now()
    fresh = {"method": request.method, "path": request.path[:500], "fingerprint": fingerprint, "status_code": None,
             "response_body": None, "response_headers": {}, "api_key": request.auth, "expires_at": now + TTL}
    with transaction.atomic():
        record, created = IdempotencyKey.objects.select_for_update().get_or_create(tenant=request.tenant, key=key, defaults=fresh)
        if not created:
            if record.expires_at > now:
                if record.fingerprint != fingerprint:
                    return error_response(
                        409, "idempotency_conflict",
                        f"This {HEADER} was already used for another request ({record.method} {record.path} with another body); use a new key.",
                    )
                if record.status_code is not None:
                    return _replay(record)
            for name, value in fresh.items():  # expired (or never finished): start over under the same key
                setattr(record, name, value)
            record.created_at = now
            record.save()
        response = _call(view, handler)
        if response.status_code >= 500 or response.status_code in _NOT_STORED:
            record.delete()
            return response
        record.status_code = response.status_code
        record.response_body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
        record.response_headers = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
        record.save(update_fields=["status_code", "response_body", "response_headers"])
    return response
