"""Request-size limit for the API and Slack endpoints, applied before any view reads the body.

DRF reads the request stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not
protect it. Bodies above ``settings.MAX_REQUEST_BYTES`` get 413; a malformed Content-Length 400.
"""

from __future__ import annotations

from django.conf import settings

from revops.lib.api import error_json

LIMITED_PREFIXES = ("/api/", "/slack/")


class RequestSizeLimitMiddleware:
    """Refuse ``/api/`` and ``/slack/`` requests whose Content-Length exceeds
    ``settings.MAX_REQUEST_BYTES`` (413) or is not an integer (400)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(LIMITED_PREFIXES):
            raw = request.META.get("CONTENT_LENGTH") or "0"
            try:
                length = int(raw)
            except ValueError:
                return error_json(400, "bad_request", "Malformed Content-Length header.")
            if length > settings.MAX_REQUEST_BYTES:
                return error_json(413, "request_too_large", f"Request body larger than {settings.MAX_REQUEST_BYTES} bytes.")
        return self.get_response(request)
