"""What a handler returns is stored in ``Action.result`` (shown in the admin and the API): it is
redacted like ``last_error``, since it may echo third-party text such as a receiver's reply."""

from __future__ import annotations

from actions.handlers.webhook import WebhookHandler
from actions.models import ActionStatus
from actions.services import action_create
from actions.tests.conftest import reload


def test_a_secret_in_the_handler_result_is_not_stored(world_a, endpoint_a, monkeypatch, django_capture_on_commit_callbacks):
    endpoint, _ = endpoint_a()
    echoed = {"status_code": 200, "response": "echo: Authorization: Bearer abcdefghijklmnopqrstuv", "api_key": "k-123"}
    monkeypatch.setattr(WebhookHandler, "execute", lambda self, action: dict(echoed))
    with django_capture_on_commit_callbacks(execute=True):
        action = action_create(
            tenant=world_a.tenant,
            kind="webhook",
            payload={"endpoint_id": endpoint.pk, "event_type": "deal.risk_alert", "data": {"deal": "Acme"}},
            idempotency_key="redact-1",
        ).action
    action = reload(action)
    assert action.status == ActionStatus.SUCCEEDED
    assert action.result["status_code"] == 200
    assert "abcdefghijklmnopqrstuv" not in action.result["response"]
    assert action.result["api_key"] == "[REDACTED]"
