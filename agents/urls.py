from django.urls import path

from actions.api import ActionApprove, ActionDetail, ActionReject
from agents.api import RunDetail, RunListCreate

urlpatterns = [
    path("runs", RunListCreate.as_view(), name="runs"),
    path("runs/<uuid:tracking_id>", RunDetail.as_view(), name="run-detail"),
    path("actions/<int:action_id>", ActionDetail.as_view(), name="action-detail"),
    path("actions/<int:action_id>/approve", ActionApprove.as_view(), name="action-approve"),
    path("actions/<int:action_id>/reject", ActionReject.as_view(), name="action-reject"),
]
