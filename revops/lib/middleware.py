"""Request-size limits, applied before any view (or the CSRF check) reads the body.

DRF reads the request stream directly, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not
protect it: ``/api/`` and ``/slack/`` bodies above ``settings.MAX_REQUEST_BYTES`` get a JSON 413.
Every other request (the admin's file uploads, which Django would otherwise spool to disk
whole before the view could look at their size) is refused above
``settings.MAX_UPLOAD_REQUEST_BYTES`` with a plain-text 413. A malformed Content-Length is a 400.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from revops.lib.api import error_json

LIMITED_PREFIXES = ("/api/", "/slack/")


class RequestSizeLimitMiddleware:
    """Refuse ``/api/`` and ``/slack/`` requests whose Content-Length exceeds
    ``settings.MAX_REQUEST_BYTES``, and any other request above ``settings.MAX_UPLOAD_REQUEST_BYTES``
    (413), or whose Content-Length is not an integer (400)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        api = request.path.startswith(LIMITED_PREFIXES)
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            if api:
                return error_json(400, "bad_request", "Malformed Content-Length header.")
            return HttpResponse("Malformed Content-Length header.", status=400, content_type="text/plain; charset=utf-8")
        if api and length > settings.MAX_REQUEST_BYTES:
            return error_json(413, "request_too_large", f"Request body larger than {settings.MAX_REQUEST_BYTES} bytes.")
        if not api and length > settings.MAX_UPLOAD_REQUEST_BYTES:
            mib = settings.MAX_UPLOAD_REQUEST_BYTES / (1024 * 1024)
            return HttpResponse(
                f"Request body larger than {mib:g} MiB; import larger files with manage.py warehouse_import.",
                status=413, content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
