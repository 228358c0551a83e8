"""REST API v1 for runs: list, create (202, queued), read, and the PNG of a run's chart. The tenant
comes from the API key only."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agents.charts import render_png, stored_chart
from agents.models import Channel, Run
from agents.serializers import RunCreateSerializer, RunDetailSerializer, RunQueuedSerializer, RunStatusField, RunSummarySerializer
from agents.services import run_create
from revops.lib.api import error_responses
from tenants.idempotency import IDEMPOTENCY_PARAMETER, idempotent


class RunCursorPagination(CursorPagination):
    """Newest first; ``page_size`` 1-100 (default 20); ``next``/``previous`` are opaque cursor URLs."""

    ordering = ("-queued_at", "-id")
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


class RunListFilters(serializers.Serializer):
    status = RunStatusField(required=False)
    since = serializers.DateTimeField(required=False, help_text="ISO 8601; runs queued at or after it")
    thread_id = serializers.CharField(max_length=200, required=False)


class RunListCreate(APIView):
    """``GET /api/v1/runs``: the tenant's runs; ``POST /api/v1/runs``: queue a question for the agents."""

    pagination_class = RunCursorPagination

    @extend_schema(
        parameters=[
            RunListFilters,
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The cursor from a previous page's next/previous URL"),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1-100, default 20"),
        ],
        responses={
            200: RunSummarySerializer(many=True),
            **error_responses(400, 401, 406, 429, descriptions={404: "The `cursor` is not one this API issued (`not_found`)"}),
        },
    )
    def get(self, request):
        """The tenant's runs, newest first (cursor pagination), without steps. Filters: ``status``,
        ``since`` (ISO datetime, runs queued at or after it), ``thread_id``."""
        filters = RunListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        runs = Run.objects.select_related("conversation")  # scoped: this tenant's runs only
        if "status" in data:
            runs = runs.filter(status=data["status"])
        if "since" in data:
            runs = runs.filter(queued_at__gte=data["since"])
        if "thread_id" in data:
            runs = runs.filter(channel=Channel.API, conversation__external_key=data["thread_id"])
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response(RunSummarySerializer(page, many=True).data)

    @extend_schema(
        request=RunCreateSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={202: RunQueuedSerializer, **error_responses(400, 401, 406, 409, 413, 415, 429)},
    )
    def post(self, request):
        """Queue a question; 202 with the tracking id (``Location`` points at the run)."""
        return idempotent(self, request, lambda: self._create(request))

    def _create(self, request) -> Response:
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
    """``GET /api/v1/runs/{tracking_id}``: status, route, answer, citations; steps with ``?include=steps``."""

    @extend_schema(
        parameters=[OpenApiParameter("include", OpenApiTypes.STR, enum=["steps"], description="`steps`: add the run's steps (redacted inputs, summaries)")],
        responses={200: RunDetailSerializer, **error_responses(400, 401, 404, 406, 429)},
    )
    def get(self, request, tracking_id):
        include = {part.strip() for part in request.query_params.get("include", "").split(",") if part.strip()}
        if include - {"steps"}:
            raise ValidationError({"include": [f"Unknown value(s): {', '.join(sorted(include - {'steps'}))}; allowed: steps."]})
        run = Run.objects.select_related("conversation").filter(tracking_id=tracking_id).first()  # scoped: other tenants' runs are invisible
        if run is None:
            raise NotFound("No such run.")
        # The steps' full ``output`` is never shown by the API: do not fetch it.
        steps = list(run.steps.defer("output").order_by("position")) if "steps" in include else None
        return Response(RunDetailSerializer(run, context={"steps": steps, "request": request}).data)


# Charts are immutable once the run has finished (the spec is stored with the answer): browsers
# and Slack clients may keep the PNG for a day, but only privately (it carries tenant figures).
CHART_CACHE_CONTROL = "private, max-age=86400"


class RunChart(APIView):
    """``GET /api/v1/runs/{tracking_id}/charts/{n}.png``: chart ``n`` (1-based) of a run as a PNG."""

    renderer_classes = [JSONRenderer]

    @extend_schema(
        responses={
            (200, "image/png"): OpenApiTypes.BINARY,
            **error_responses(401, 404, 429, descriptions={404: "No such run for this tenant, or the run has no chart n (`not_found`)"}),
        },
    )
    def get(self, request, tracking_id, n: int):
        """The PNG (1000 x 560 px) of the run's chart ``n`` (1-based, in the order of the run
        detail's ``charts``), rendered on demand from the stored figures. ``Cache-Control: private,
        max-age=86400``. 404 for another tenant's run, an unknown run, or no chart ``n``."""
        run = Run.objects.filter(tracking_id=tracking_id).only("pk", "charts").first()  # scoped: other tenants' runs are invisible
        if run is None:
            raise NotFound("No such run.")
        spec = stored_chart(run.charts, n)
        if spec is None:
            raise NotFound(f"This run has no chart {n}.")
        response = HttpResponse(render_png(spec), content_type="image/png")
        response["Cache-Control"] = CHART_CACHE_CONTROL
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def perform_content_negotiation(self, request, force=False):
        # Any Accept header is fine: the chart itself is an HttpResponse of PNG bytes, and errors
        # are JSON in the one error shape (revops.lib.api) whatever the client accepts.
        return JSONRenderer(), JSONRenderer.media_type
