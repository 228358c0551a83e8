"""Routes of the actions app, included at the site root by ``revops/urls.py``: the actions API
(``api/v1/actions/<id>``, approve, reject) and the Slack interactivity endpoint that decides
approvals (``slack/interactivity/<tenant slug>``)."""

from django.urls import path

from actions.api import ActionApprove, ActionDetail, ActionReject
from actions.views import slack_interactivity

urlpatterns = [
    path("api/v1/actions/<int:action_id>", ActionDetail.as_view(), name="action-detail"),
    path("api/v1/actions/<int:action_id>/approve", ActionApprove.as_view(), name="action-approve"),
    path("api/v1/actions/<int:action_id>/reject", ActionReject.as_view(), name="action-reject"),
    path("slack/interactivity/<slug:tenant_slug>", slack_interactivity, name="slack-interactivity"),
]
