"""Admin for actions (with their audit trail and a "retry now" action) and webhook endpoints.

Access follows tenant memberships (:class:`tenants.admin_base.TenantScopedAdmin`): superusers see every tenant; other
staff users see their tenants' rows; "retry now", endpoint changes and secret rotation need an
editing role (owner/admin/editor). Status changes go through :mod:`actions.services`.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from actions.connectors import action_connector_missing
from actions.handlers.base import ActionInvalid
from actions.models import Action, ActionEvent, ActionKind, ActionStatus, SigningSecret, WebhookEndpoint
from actions.selectors import action_policy_get
from actions.services import (
    ActionStateError,
    action_approve,
    action_create,
    action_reject,
    action_retry_now,
    signing_secret_rotate,
    webhook_endpoint_create,
)
from revops.lib.urls import UnsafeURL, check_outbound_url
from tenants.admin_base import TenantScopedAdmin, TenantScopedInline, member_roles, member_tenant_ids
from tenants.models import ROLES_THAT_EDIT

TEST_EVENT_TYPE = "revops.test"

def _via(request: HttpRequest) -> str:
    """The audit label of an admin user (``admin:<username>``, <= 64 chars)."""
    return f"admin:{request.user.get_username()}"[:64]


def _may_decide(request: HttpRequest, action: Action) -> bool:
    """Whether the user may approve or reject ``action``: superusers, and members whose role is
    one of the tenant policy's ``approver_roles`` (default owner, admin, editor; never viewers
    unless the policy says so), as for approvals in Slack."""
    if request.user.is_superuser:
        return True
    role = member_roles(request).get(action.tenant_id)
    return role is not None and role in action_policy_get(tenant=action.tenant).approver_roles


class _MethodNotAllowed(Exception):
    """A decision view was called without POST (answered 405)."""


class ActionEventInline(TenantScopedInline):
    model = ActionEvent
    fields = ["created_at", "from_status", "to_status", "actor_label", "attempt", "note"]
    readonly_fields = fields
    ordering = ["pk"]


@admin.register(Action)
class ActionAdmin(TenantScopedAdmin):
    """Actions with their audit trail. Proposed actions get Approve / Reject buttons (approver
    roles of the tenant policy; refused with the reason when the tenant lacks the connector the
    action needs); dead and failed actions can be retried now."""

    change_form_template = "admin/actions/action/change_form.html"
    list_display = ["id", "tenant", "kind", "target", "status", "attempts", "next_attempt_at", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["target", "idempotency_key", "last_error"]
    list_select_related = ["tenant"]
    readonly_fields = [f.name for f in Action._meta.fields if f.name not in ("claim_token",)]
    exclude = ["claim_token"]
    inlines = [ActionEventInline]
    actions = ["retry_now"]

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/approve/", wrap(self.approve_view), name="actions_action_approve"),
            path("<path:object_id>/reject/", wrap(self.reject_view), name="actions_action_reject"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        action = self.get_object(request, object_id)  # 404 for another tenant's action
        context = dict(extra_context or {})
        if action.status == ActionStatus.PROPOSED:
            context.update(
                proposed=True,
                can_decide=_may_decide(request, action),
                connector_missing=action_connector_missing(tenant=action.tenant, kind=action.kind),
            )
        return super().change_view(request, object_id, form_url, context)

    def _decision_target(self, request: HttpRequest, object_id: str) -> Action:
        """The action to decide on, or an error: 405 unless POST, 404 for another tenant's
        action, 403 (friendly page with the reason) without an approver role."""
        if request.method != "POST":
            raise _MethodNotAllowed
        action = self.get_object(request, object_id)
        if not _may_decide(request, action):
            policy = action_policy_get(tenant=action.tenant)
            raise PermissionDenied(
                f"Only {', '.join(sorted(policy.approver_roles)) or 'nobody'} of {action.tenant.name} may approve or reject actions."
            )
        return action

    def _back(self, action: Action) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:actions_action_change", args=[action.pk]))

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: approve a proposed action (audited as ``admin:<username>``) and queue it.
        Refused with a message when the tenant lacks the connector it needs or it is no longer
        proposed; 403 without an approver role; 404 for another tenant's action."""
        try:
            action = self._decision_target(request, object_id)
        except _MethodNotAllowed:
            return HttpResponseNotAllowed(["POST"])
        missing = action_connector_missing(tenant=action.tenant, kind=action.kind)
        if missing:
            self.message_user(request, f"Action {action.pk} was not approved: {missing}.", messages.ERROR)
            return self._back(action)
        try:
            action_approve(action=action, actor=request.user, via=_via(request), note="approved in the admin")
        except ActionStateError as exc:
            self.message_user(request, f"Not approved: {exc}.", messages.ERROR)
            return self._back(action)
        self.message_user(request, f"Action {action.pk} approved and queued for execution.", messages.SUCCESS)
        return self._back(action)

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST (optional ``reason``, <= 500 chars): reject a proposed action (terminal, audited).
        Same refusals as :meth:`approve_view`, except a missing connector."""
        try:
            action = self._decision_target(request, object_id)
        except _MethodNotAllowed:
            return HttpResponseNotAllowed(["POST"])
        reason = (request.POST.get("reason") or "").strip()[:500]
        try:
            action_reject(action=action, actor=request.user, via=_via(request), reason=reason)
        except ActionStateError as exc:
            self.message_user(request, f"Not rejected: {exc}.", messages.ERROR)
            return self._back(action)
        self.message_user(request, f"Action {action.pk} rejected.", messages.SUCCESS)
        return self._back(action)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return self.tenant_allows(request, ROLES_THAT_EDIT)

    @admin.action(description="Retry now (dead or failed actions)", permissions=["retry"])
    def retry_now(self, request, queryset):
        editable = None if request.user.is_superuser else member_tenant_ids(request, ROLES_THAT_EDIT)
        done = skipped = 0
        for action in queryset.filter(status__in=[ActionStatus.DEAD, ActionStatus.FAILED]):
            if editable is not None and action.tenant_id not in editable:
                skipped += 1
                continue
            if action_retry_now(action=action, actor=request.user, via=f"admin:{request.user.get_username()}"[:64]):
                done += 1
        skipped += queryset.exclude(status__in=[ActionStatus.DEAD, ActionStatus.FAILED]).count()
        self.message_user(request, f"{done} action(s) queued again; {skipped} skipped (not dead/failed, or no editing role).", messages.INFO)


class SigningSecretInline(TenantScopedInline):
    """Secrets are never shown here: only when created or rotated (once)."""

    model = SigningSecret
    fields = ["created_at", "expires_at"]
    readonly_fields = fields


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = WebhookEndpoint
        fields = ["tenant", "url", "description", "enabled"]

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            check_outbound_url(url, resolve=False)  # checked again, resolved, at every delivery
        except UnsafeURL as exc:
            raise forms.ValidationError(str(exc)) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    """Registered receivers. Adding one (or rotating its secret) shows the new ``whsec_``
    secret once, in a message. "Send test event" posts a signed ``revops.test`` event through
    the ordinary webhook action (same signing, retries and audit); the delivery log lists the
    endpoint's latest webhook actions."""

    change_form_template = "admin/actions/webhookendpoint/change_form.html"
    form = WebhookEndpointForm
    list_display = ["id", "tenant", "description", "url", "enabled", "disabled_reason", "updated_at"]
    list_filter = ["enabled"]
    readonly_fields = ["disabled_reason", "created_at", "updated_at"]
    inlines = [SigningSecretInline]
    actions = ["rotate_secret"]
    DELIVERY_LOG_ROWS = 25
    delete_roles = ROLES_THAT_EDIT

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", *self.readonly_fields, "delivery_log"] if obj is not None else self.readonly_fields

    @admin.display(description="delivery log")
    def delivery_log(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's latest webhook deliveries (newest first): action, event type, status,
        attempts, the receiver's HTTP status, last error."""
        rows = (
            Action.objects.for_tenant(endpoint.tenant_id)
            .filter(kind=ActionKind.WEBHOOK, payload__endpoint_id=endpoint.pk)
            .order_by("-pk")[: self.DELIVERY_LOG_ROWS]
        )
        body = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:actions_action_change", args=[a.pk]),
                    a.pk,
                    a.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    a.payload.get("event_type", ""),
                    a.get_status_display(),
                    a.attempts,
                    (a.result or {}).get("status_code") or "",
                    a.last_error[:200],
                )
                for a in rows
            ),
        )
        if not body:
            return "No deliveries yet."
        return format_html(
            "<table><tr><th>action</th><th>created</th><th>event</th><th>status</th><th>attempts</th><th>HTTP</th><th>last error</th></tr>{}</table>",
            body,
        )

    def get_urls(self):
        return [
            path("<path:object_id>/send-test/", self.admin_site.admin_view(self.send_test_view), name="actions_webhookendpoint_send_test"),
            *super().get_urls(),
        ]

    def send_test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: send a signed ``revops.test`` event to the endpoint as a webhook action, queued
        at once (approved by the clicking user when the policy holds webhooks and their role may
        approve). 403 without an editing role; 404 for another tenant's endpoint."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = self.get_object(request, object_id)
        back = HttpResponseRedirect(reverse("admin:actions_webhookendpoint_change", args=[endpoint.pk]))
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied("Sending a test event needs an editing role (owner, admin or editor) in this tenant.")
        data = {"message": "Test event sent from the RevOps AI admin.", "endpoint_id": endpoint.pk, "sent_by": request.user.get_username()}
        try:
            proposal = action_create(
                tenant=endpoint.tenant,
                kind=ActionKind.WEBHOOK,
                payload={"endpoint_id": endpoint.pk, "event_type": TEST_EVENT_TYPE, "data": data},
                idempotency_key=f"admin-test-{endpoint.pk}-{uuid.uuid4().hex}",
                requested_by=request.user,
                requested_via=_via(request),
            )
        except ActionInvalid as exc:
            self.message_user(request, f"Test event not sent: {exc}", messages.ERROR)
            return back
        action = proposal.action
        if proposal.awaiting_approval:
            if not _may_decide(request, action):
                self.message_user(request, f"Test event held for approval (action {action.pk}): the tenant policy holds webhooks.", messages.WARNING)
                return back
            action_approve(action=action, actor=request.user, via=_via(request), note="test event sent from the admin")
        self.message_user(request, f"Test event queued as action {action.pk}; its delivery appears in the log below.", messages.SUCCESS)
        return back

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # the first secret is made on save

    def has_rotate_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def save_model(self, request, obj, form, change):
        if change:
            if obj.enabled:
                obj.disabled_reason = ""
            obj.save()
            return
        endpoint, secret = webhook_endpoint_create(
            tenant=form.cleaned_data["tenant"], url=obj.url, description=obj.description, enabled=obj.enabled
        )
        obj.pk = endpoint.pk
        self.message_user(request, f"Signing secret of endpoint {endpoint.pk} (shown once): {secret}", messages.WARNING)

    @admin.action(description="Rotate signing secret (old one valid 24 h)", permissions=["rotate"])
    def rotate_secret(self, request, queryset):
        editable = None if request.user.is_superuser else member_tenant_ids(request, ROLES_THAT_EDIT)
        for endpoint in queryset:
            if editable is not None and endpoint.tenant_id not in editable:
                continue
            secret = signing_secret_rotate(tenant=endpoint.tenant, endpoint=endpoint)
            self.message_user(request, f"New signing secret of endpoint {endpoint.pk} (shown once): {secret}", messages.WARNING)
