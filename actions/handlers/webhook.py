"""``webhook``: POST a signed JSON event to a tenant's registered endpoint, or a finished run to the
``callback_url`` its API caller gave.

Payload: ``{"endpoint_id": int}`` xor ``{"callback_url": "https://..."}``, plus ``event_type``
(``[a-z0-9_.-]``, e.g. ``deal.risk_alert``, ``run.completed``) and ``data`` (a JSON object).

Body sent: to an endpoint, the Standard Webhooks envelope ``{"type", "timestamp", "data"}``
(``timestamp``: the action's creation, ISO 8601, the same on every retry); to a callback URL,
the run document itself with ``"type"`` added (the API's documented callback shape). Signed with
the endpoint's secrets, or the tenant's run-callback secret (see ``integrations.outbound``).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

from rest_framework import serializers

from actions.handlers.base import Described, Handler, PermanentError, RetryableError
from actions.models import Action, ActionKind, WebhookEndpoint
from actions.selectors import action_policy_get, signing_secrets_active
from actions.signing import callback_secrets_ensure, webhook_endpoint_disable
from integrations.outbound import json_body, outbound_check, post_signed
from revops.lib.urls import UnsafeURL, check_outbound_url

_EVENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")


class WebhookPayload(serializers.Serializer):
    """``{"endpoint_id" | "callback_url", "event_type": "a.b", "data": JSON}``: a registered
    endpoint of the tenant, or a run's callback URL (checked again at every delivery)."""
    endpoint_id = serializers.IntegerField(required=False, min_value=1)
    callback_url = serializers.URLField(required=False, max_length=2000)
    event_type = serializers.RegexField(_EVENT_TYPE, max_length=100)
    data = serializers.JSONField()

    def validate_callback_url(self, value: str) -> str:
        try:
            check_outbound_url(value, resolve=False)  # resolved again at each delivery
        except UnsafeURL as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value

    def validate_data(self, value) -> dict:
        if not isinstance(value, dict):
            raise serializers.ValidationError("must be a JSON object")
        return value

    def validate(self, attrs: dict) -> dict:
        if ("endpoint_id" in attrs) == ("callback_url" in attrs):
            raise serializers.ValidationError("give exactly one of endpoint_id and callback_url")
        if "endpoint_id" in attrs:
            tenant = self.context["tenant"]
            endpoint = WebhookEndpoint.objects.for_tenant(tenant).filter(pk=attrs["endpoint_id"]).first()
            if endpoint is None:
                raise serializers.ValidationError({"endpoint_id": "no such webhook endpoint"})
            if not endpoint.enabled:
                raise serializers.ValidationError({"endpoint_id": f"the endpoint is disabled: {endpoint.disabled_reason or 'by an admin'}"})
        if len(json.dumps(attrs.get("data") or {}, default=str)) > 256 * 1024:
            raise serializers.ValidationError({"data": "larger than 256 KiB"})
        return attrs


class WebhookHandler(Handler):
    """POSTs a Standard Webhooks-signed JSON message; 2xx succeeds, 410 disables the endpoint,
    408/429/5xx retry (``Retry-After`` honoured), redirects are not followed."""
    kind = ActionKind.WEBHOOK.value
    serializer_class = WebhookPayload

    def describe(self, *, tenant, payload: dict) -> Described:
        if payload.get("endpoint_id"):
            endpoint = WebhookEndpoint.objects.for_tenant(tenant).get(pk=payload["endpoint_id"])  # validated above
            url, label = endpoint.url, f"webhook {endpoint.description or urlsplit(endpoint.url).hostname}"
        else:
            url = payload["callback_url"]
            label = f"callback {urlsplit(url).hostname}"
        data = json.dumps(payload.get("data") or {}, indent=1, default=str)
        preview = f"POST {payload['event_type']} to {url}\n\n{data[:1500]}{'…' if len(data) > 1500 else ''}"
        return Described(target=label[:255], preview=preview)

    def needs_approval(self, *, policy, tenant, payload: dict, run=None) -> bool:
        """Callbacks to the run's own ``callback_url`` always run (the API caller asked for them);
        registered, enabled endpoints run when the policy auto-approves webhooks."""
        if payload.get("callback_url"):
            return not (run is not None and run.callback_url == payload["callback_url"])
        return self.kind not in policy.auto_approve

    def execute(self, action: Action) -> dict:
        payload = action.payload
        endpoint = None
        if payload.get("endpoint_id"):
            endpoint = WebhookEndpoint.objects.filter(pk=payload["endpoint_id"]).first()  # scoped to the action's tenant
            if endpoint is None:
                raise PermanentError("the webhook endpoint was deleted")
            if not endpoint.enabled:
                raise PermanentError(f"the webhook endpoint is disabled: {endpoint.disabled_reason or 'by an admin'}")
            url = endpoint.url
            secrets = signing_secrets_active(tenant=action.tenant, endpoint=endpoint)
            document = {"type": payload["event_type"], "timestamp": action.created_at.isoformat(), "data": payload.get("data") or {}}
        else:
            url = payload["callback_url"]
            secrets = callback_secrets_ensure(tenant=action.tenant)
            document = {"type": payload["event_type"], **(payload.get("data") or {})}
        if not secrets:
            raise PermanentError("no active signing secret for this endpoint")
        policy = action_policy_get(tenant=action.tenant)
        try:
            target = outbound_check(url, allowlist=policy.outbound_allowlist)
        except UnsafeURL as exc:
            raise PermanentError(f"not delivered: {exc}") from None
        outcome = post_signed(target=target, body=json_body(document), msg_id=action.webhook_id, secrets=secrets)
        result = {
            "status_code": outcome.status_code,
            "webhook_id": action.webhook_id,
            "host": target.host,
            "response": outcome.response_excerpt,
        }
        if outcome.kind == "success":
            return result
        if outcome.kind == "retry":
            raise RetryableError(outcome.detail, retry_after=outcome.retry_after, result=result)
        if outcome.kind == "gone" and endpoint is not None:
            webhook_endpoint_disable(endpoint=endpoint, reason=f"receiver answered 410 Gone to action {action.pk}")
            raise PermanentError(f"{outcome.detail}; the endpoint was disabled", result=result)
        raise PermanentError(outcome.detail, result=result)
