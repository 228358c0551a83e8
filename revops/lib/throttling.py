"""Per-API-key throttles (DRF), 429 with ``Retry-After``. Kept apart from ``revops.lib.api``
because DRF's ``APIView`` reads ``DEFAULT_THROTTLE_CLASSES`` when ``rest_framework.views`` is
imported, so this module must not import it."""

from __future__ import annotations

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class _ApiKeyThrottle(SimpleRateThrottle):
    """Counts requests per API key (``request.auth``); unauthenticated requests are not counted
    here (they are refused with 401 before any work). The rate is read from
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope]`` on every request, so overriding settings
    takes effect at once; a rate of ``None`` disables the throttle. The rate was validated once,
    when ``revops.settings`` read it (``revops.lib.env.rate_check``: ``none`` is ``None`` there)."""

    methods: tuple[str, ...] = ()

    def __init__(self):  # the rate is resolved per request in allow_request
        pass

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        if key is None or getattr(key, "pk", None) is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": key.pk}

    def allow_request(self, request, view):
        if request.method not in self.methods:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class ApiKeyWriteThrottle(_ApiKeyThrottle):
    """POST/PUT/PATCH/DELETE per API key (``API_THROTTLE_WRITE_RATE``)."""

    scope = "api_key_write"
    methods = ("POST", "PUT", "PATCH", "DELETE")


class ApiKeyReadThrottle(_ApiKeyThrottle):
    """GET/HEAD/OPTIONS per API key (``API_THROTTLE_READ_RATE``)."""

    scope = "api_key_read"
    methods = ("GET", "HEAD", "OPTIONS")

