"""Reads for actions: the tenant's action policy, actions, signing secrets, approvers."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from actions.models import Action, SigningSecret, WebhookEndpoint
from integrations.crypto import SecretDecryptError
from tenants.models import Membership, Tenant
from tenants.settings_schema import tenant_settings_section_lenient

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActionPolicy:
    """A tenant's rules for actions, from ``Tenant.settings["actions"]`` (JSON, admin-editable),
    parsed by ``tenants.settings_schema.ActionSettings`` (whose field defaults are the defaults).

    - ``auto_approve``: kinds that run without a human (default ``slack_notify`` and ``webhook``;
      a webhook runs without approval only to a registered, enabled endpoint or to the run's own
      ``callback_url``). Every other kind (default ``crm_update``, ``warehouse_write``) waits in
      ``proposed`` for an approval.
    - ``approver_roles``: membership roles allowed to approve or reject in Slack (default
      owner, admin, editor; viewers never).
    - ``approval_channel``: Slack channel id where approval prompts of non-Slack runs are posted
      (default none: those are approved through the API).
    - ``default_channel``: Slack channel for notifications without a better destination.
    - ``slack_users``: ``{"CRM owner name": "U123"}``, to notify a deal owner directly.
    - ``outbound_allowlist``: CIDR networks (``"10.1.0.0/16"``) outbound calls may reach even
      though they are private/loopback/link-local (the SSRF guard refuses them otherwise).

    Stored values that do not validate (an unknown kind or role, a malformed network, a list
    that is not a list) are ignored with a warning and the defaults apply
    (``tenant_settings_section_lenient``).
    """

    auto_approve: frozenset[str]
    approver_roles: frozenset[str]
    approval_channel: str
    default_channel: str
    slack_users: dict[str, str] = field(default_factory=dict)
    outbound_allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


def action_policy_get(*, tenant: Tenant) -> ActionPolicy:
    """The tenant's :class:`ActionPolicy` (defaults for anything absent or malformed, logged)."""
    section = tenant_settings_section_lenient(tenant, "actions")
    return ActionPolicy(
        auto_approve=frozenset(section.auto_approve),
        approver_roles=frozenset(section.approver_roles),
        approval_channel=section.approval_channel,
        default_channel=section.default_channel,
        slack_users=dict(section.slack_users),
        outbound_allowlist=tuple(ipaddress.ip_network(item, strict=False) for item in section.outbound_allowlist),
    )


def action_get(*, action_id: int) -> Action | None:
    """The action ``action_id`` of the tenant in context, or None (other tenants' are invisible)."""
    return Action.objects.select_related("run").filter(pk=action_id).first()


def slack_approver_get(*, tenant: Tenant, slack_user_id: str) -> Membership | None:
    """The membership of the Slack user ``slack_user_id`` in ``tenant`` if its role may approve
    (``ActionPolicy.approver_roles``); None for outsiders, viewers and unknown users."""
    if not slack_user_id:
        return None
    policy = action_policy_get(tenant=tenant)
    return (
        Membership.objects.filter(tenant=tenant, slack_user_id=slack_user_id, role__in=policy.approver_roles)
        .select_related("user")
        .first()
    )


def signing_secrets_active(*, tenant: Tenant, endpoint: WebhookEndpoint | None) -> list[str]:
    """Decrypted ``whsec_`` secrets currently signing deliveries to ``endpoint`` (None: run
    callbacks), newest first; the rotated-out ones stay until their ``expires_at``. Secrets that
    cannot be decrypted are skipped (logged)."""
    now = timezone.now()
    rows = SigningSecret.objects.for_tenant(tenant).filter(endpoint=endpoint).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    secrets = []
    for row in rows.order_by("-created_at", "-pk"):
        try:
            value = row.secret()
        except SecretDecryptError:
            logger.error("signing secret %s cannot be decrypted", row.pk)
            continue
        if value:
            secrets.append(value)
    return secrets
