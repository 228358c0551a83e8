"""Reads for actions: the tenant's action policy, actions, signing secrets, approvers."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from actions.models import Action, ActionKind, SigningSecret, WebhookEndpoint
from integrations.crypto import SecretDecryptError
from tenants.models import ROLES_THAT_EDIT, Membership, Tenant

logger = logging.getLogger(__name__)

DEFAULT_AUTO_APPROVE = frozenset({ActionKind.SLACK_NOTIFY.value, ActionKind.WEBHOOK.value})
DEFAULT_APPROVER_ROLES = frozenset(str(r) for r in ROLES_THAT_EDIT)


@dataclass(frozen=True)
class ActionPolicy:
    """A tenant's rules for actions, from ``Tenant.settings["actions"]`` (JSON, admin-editable).

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

    Unknown kinds/roles and malformed networks are ignored with a warning (the defaults apply).
    """

    auto_approve: frozenset[str] = DEFAULT_AUTO_APPROVE
    approver_roles: frozenset[str] = DEFAULT_APPROVER_ROLES
    approval_channel: str = ""
    default_channel: str = ""
    slack_users: dict[str, str] = field(default_factory=dict)
    outbound_allowlist: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


def _str_set(value, allowed: set[str], default: frozenset[str], what: str, tenant: Tenant) -> frozenset[str]:
    if value is None:
        return default
    if not isinstance(value, list):
        logger.warning("tenant %s: actions.%s must be a list; using the default", tenant.slug, what)
        return default
    unknown = [v for v in value if v not in allowed]
    if unknown:
        logger.warning("tenant %s: actions.%s ignores unknown values %s", tenant.slug, what, unknown[:5])
    return frozenset(v for v in value if v in allowed)


def action_policy_get(*, tenant: Tenant) -> ActionPolicy:
    """The tenant's :class:`ActionPolicy` (defaults for anything absent or malformed)."""
    raw = (tenant.settings or {}).get("actions") or {}
    if not isinstance(raw, dict):
        raw = {}
    networks = []
    for item in raw.get("outbound_allowlist") or []:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            logger.warning("tenant %s: ignoring malformed outbound_allowlist entry %r", tenant.slug, str(item)[:60])
    slack_users = raw.get("slack_users") if isinstance(raw.get("slack_users"), dict) else {}
    return ActionPolicy(
        auto_approve=_str_set(raw.get("auto_approve"), set(ActionKind.values), DEFAULT_AUTO_APPROVE, "auto_approve", tenant),
        approver_roles=_str_set(
            raw.get("approver_roles"), {"owner", "admin", "editor", "viewer"}, DEFAULT_APPROVER_ROLES, "approver_roles", tenant
        ),
        approval_channel=str(raw.get("approval_channel") or ""),
        default_channel=str(raw.get("default_channel") or ""),
        slack_users={str(k): str(v) for k, v in slack_users.items()},
        outbound_allowlist=tuple(networks),
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
    rows = SigningSecret.objects.unscoped().filter(  # filtered by tenant explicitly: called from workers
        tenant=tenant, endpoint=endpoint
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
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
