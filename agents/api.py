"""REST API v1 for runs: create (202, queued) and read. The tenant comes from the API key only."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.models import Channel, Run
from agents.serializers import RunCreateSerializer, RunDetailSerializer, RunQueuedSerializer
from agents.services import run_create


class RunListCreate(APIView):
    """``POST /api/v1/runs``: queue a question for the agents."""

    @extend_schema(request=RunCreateSerializer, responses={202: RunQueuedSerializer})
    def post(self, request):
        serializer = RunCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with transaction.atomic():
            run = run_create(
                tenant=request.tenant,
                channel=Channel.API,
                query=data["query"],
                as_of=data.get("as_of"),
                thread_key=data["thread_id"],
                source_system=data["source_system"],
                source_process=data["source_process"],
                callback_url=data["callback_url"],
            )
        body = RunQueuedSerializer({"tracking_id": run.tracking_id, "status": run.status, "queued_at": run.queued_at}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": f"/api/v1/runs/{run.tracking_id}"})


class RunDetail(APIView):
    """``GET /api/v1/runs/{tracking_id}``: status, route, answer, citations, steps."""

    @extend_schema(responses={200: RunDetailSerializer})
    def get(self, request, tracking_id):
        run = Run.objects.select_related("conversation").filter(tracking_id=tracking_id).first()  # scoped: other tenants' runs are invisible
        if run is None:
            raise NotFound("No such run.")
        return Response(RunDetailSerializer(run).data)
