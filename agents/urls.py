from django.urls import path

from agents.api import RunDetail, RunListCreate

urlpatterns = [
    path("runs", RunListCreate.as_view(), name="runs"),
    path("runs/<uuid:tracking_id>", RunDetail.as_view(), name="run-detail"),
]
