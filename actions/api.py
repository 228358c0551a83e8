"""REST API v1 for actions: read one, approve, reject. The tenant comes from the API key only;
another tenant's action is a 404, exactly like a missing one."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from actions.models import Action, ActionEvent
from actions.selectors import action_get
from actions.services import ActionStateError, action_approve, action_reject
from revops.lib.api import error_response, error_responses
from revops.lib.text import StrictCharField
from tenants.idempotency import IDEMPOTENCY_PARAMETER, idempotent


class ActionEventSerializer(serializers.ModelSerializer):
    """One audit row: from/to status, actor, attempt, note, time."""
    class Meta:
        model = ActionEvent
        fields = ["from_status", "to_status", "actor_label", "attempt", "note", "created_at"]


class ActionSerializer(serializers.ModelSerializer):
    """An action as the API shows it, with its audit trail (``events``)."""
    run = serializers.SerializerMethodField()
    events = ActionEventSerializer(many=True, read_only=True)

    class Meta:
        model = Action
        fields = [
            "id", "kind", "target", "status", "preview", "payload", "run", "attempts", "max_attempts",
            "next_attempt_at", "last_error", "result", "requested_via", "approved_via", "approved_at",
            "created_at", "updated_at", "finished_at", "events",
        ]

    def get_run(self, action: Action) -> str | None:
        return str(action.run.tracking_id) if action.run_id and action.run else None


class DecisionSerializer(serializers.Serializer):
    """Body of approve/reject: optional ``{"reason": "..."}`` (<= 500 chars; a JSON string without
    NUL characters or unpaired surrogates, see :class:`revops.lib.text.StrictCharField`)."""
    reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


def _load(action_id: int) -> Action:
    action = action_get(action_id=action_id)  # scoped to the API key's tenant
    if action is None:
        raise NotFound("No such action.")
    return action


def _via(request) -> str:
    key = request.auth
    return f"api-key:{key.prefix}" if key is not None else "api"


class ActionDetail(APIView):
    """``GET /api/v1/actions/{id}``: status, preview, attempts, result and audit trail."""

    @extend_schema(responses={200: ActionSerializer, **error_responses(401, 404, 406, 429)})
    def get(self, request, action_id: int):
        return Response(ActionSerializer(_load(action_id)).data)


class _Decide(APIView):
    approve: bool

    @extend_schema(
        request=DecisionSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: ActionSerializer, **error_responses(400, 401, 403, 404, 406, 409, 413, 415, 429)},
    )
    def post(self, request, action_id: int):
        return idempotent(self, request, lambda: self._decide(request, action_id))

    def _decide(self, request, action_id: int) -> Response:
        action = _load(action_id)
        if not getattr(request.auth, "can_approve", False):
            # Approval is a human decision: only keys created with --can-approve may decide, so a
            # key that asked for a write cannot also approve it (review finding).
            return error_response(
                status.HTTP_403_FORBIDDEN, "permission_denied", "This API key may not approve or reject actions (create one with --can-approve)."
            )
        data = DecisionSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                if self.approve:
                    action_approve(action=action, via=_via(request), note=data.validated_data["reason"] or "approved through the API")
                else:
                    action_reject(action=action, via=_via(request), reason=data.validated_data["reason"])
        except ActionStateError as exc:
            return error_response(status.HTTP_409_CONFLICT, "invalid_state", str(exc))
        return Response(ActionSerializer(_load(action_id)).data)


class ActionApprove(_Decide):
    """``POST /api/v1/actions/{id}/approve``: a proposed action is queued for execution.
    200 with the action; 403 key without --can-approve; 404 unknown or another tenant's; 409 not
    proposed (already decided, ``invalid_state``) or ``idempotency_conflict``."""

    approve = True


class ActionReject(_Decide):
    """``POST /api/v1/actions/{id}/reject`` with optional ``{"reason": "..."}``: 200 / 404 / 409."""

    approve = False
