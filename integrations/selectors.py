"""Reads for connector credentials (scoped to the tenant in context)."""

from __future__ import annotations

from integrations.models import ConnectorCredential


def credential_get(*, kind: str, name: str | None = None) -> ConnectorCredential | None:
    """The current tenant's credential of ``kind`` (by ``name`` when given, else the first)."""
    qs = ConnectorCredential.objects.filter(kind=kind)
    if name is not None:
        qs = qs.filter(name=name)
    return qs.order_by("pk").first()


# Bot scopes the product needs, by the Web API method or event that needs them (integrations/slack,
# actions/approvals.py, actions/handlers/slack_notify.py): auth.test needs no scope.
SLACK_BOT_SCOPES: dict[str, str] = {
    "app_mentions:read": "the app_mention event (questions asked with @RevOps AI in channels)",
    "chat:write": "chat.postMessage, chat.update, chat.postEphemeral (answers, progress, approvals)",
    "files:write": "files.getUploadURLExternal, files.completeUploadExternal (charts and wide tables as images in answers)",
    "im:history": "the message.im event (questions asked in a direct message)",
}
SLACK_BOT_EVENTS = ("app_mention", "message.im")


def slack_manifest_build(*, tenant_slug: str, host: str, app_name: str = "RevOps AI") -> dict:
    """A Slack app manifest (the dict Slack's "Create an app → From a manifest" takes as YAML or
    JSON) for the tenant ``tenant_slug`` served at ``https://<host>``: bot user, bot scopes
    (:data:`SLACK_BOT_SCOPES`), event subscriptions to ``/slack/events/<slug>`` and interactivity
    at ``/slack/interactivity/<slug>``. ``host`` is a bare host name with an optional port."""
    base = f"https://{host}"
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": app_name[:35],
            "description": "Answers revenue questions from your CRM and warehouse."[:140],
            "background_color": "#1d3557",
        },
        "features": {
            "app_home": {"home_tab_enabled": False, "messages_tab_enabled": True, "messages_tab_read_only_enabled": False},
            "bot_user": {"display_name": app_name[:80], "always_online": True},
        },
        "oauth_config": {"scopes": {"bot": list(SLACK_BOT_SCOPES)}},
        "settings": {
            "event_subscriptions": {"request_url": f"{base}/slack/events/{tenant_slug}", "bot_events": list(SLACK_BOT_EVENTS)},
            "interactivity": {"is_enabled": True, "request_url": f"{base}/slack/interactivity/{tenant_slug}"},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
