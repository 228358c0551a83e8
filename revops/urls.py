"""URL wiring: admin, the OpenAPI schema, and each app's own ``urls.py`` (REST API v1 and Slack
endpoints: ``agents.urls`` runs and Slack events, ``actions.urls`` actions and Slack
interactivity), included at the root before the JSON 404 for unknown ``/api/`` routes."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from revops.lib.api import api_not_found
from revops.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/schema", SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]), name="schema"),
    path(
        "api/v1/docs",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[], permission_classes=[]),
        name="api-docs",
    ),
    path("", include("agents.urls")),
    path("", include("actions.urls")),
    re_path(r"^api/", api_not_found),  # unknown API routes: JSON 404 in the error shape, never HTML
    path("metrics", metrics_view, name="metrics"),  # Prometheus; bearer METRICS_TOKEN or refused
]
