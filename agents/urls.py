"""Routes of the agents app, included at the site root by ``revops/urls.py``: the runs API
(``api/v1/runs``, a run's chart PNGs ``api/v1/runs/<id>/charts/<n>.png``) and the Slack Events API endpoint that turns questions into runs
(``slack/events/<tenant slug>``)."""

from django.urls import path

from agents.api import RunChart, RunDetail, RunListCreate
from agents.views import slack_events

urlpatterns = [
    path("api/v1/runs", RunListCreate.as_view(), name="runs"),
    path("api/v1/runs/<uuid:tracking_id>", RunDetail.as_view(), name="run-detail"),
    path("api/v1/runs/<uuid:tracking_id>/charts/<int:n>.png", RunChart.as_view(), name="run-chart"),
    path("slack/events/<slug:tenant_slug>", slack_events, name="slack-events"),
]
