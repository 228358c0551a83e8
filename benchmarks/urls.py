"""The production URLconf (``revops.urls``) plus ``bench/trivial``: a JSON view that does nothing,
routed after the whole middleware stack like every other view. Benchmarks report each endpoint
beside it as a ratio (issue 10: "each beside a trivial JSON view on the same server")."""

from django.http import HttpRequest, JsonResponse
from django.urls import path

from benchmarks.harness import TRIVIAL_PATH
from revops.urls import urlpatterns as production_urlpatterns


def trivial_json(request: HttpRequest) -> JsonResponse:
    """``{"ok": true}``, 200: no database, no authentication, no template."""
    return JsonResponse({"ok": True})


urlpatterns = [path(TRIVIAL_PATH.lstrip("/"), trivial_json, name="bench-trivial"), *production_urlpatterns]
