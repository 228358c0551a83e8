"""Slack routes, included under ``slack/`` by ``revops/urls.py``."""

from django.urls import path

from integrations.slack.interactivity import slack_interactivity
from integrations.slack.views import slack_events

urlpatterns = [
    path("events/<slug:tenant_slug>", slack_events, name="slack-events"),
    path("interactivity/<slug:tenant_slug>", slack_interactivity, name="slack-interactivity"),
]
