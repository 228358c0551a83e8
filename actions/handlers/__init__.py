"""The one registry of action handlers: kind -> handler (one module per kind).

Adding a kind: write ``actions/handlers/<kind>.py`` with a :class:`actions.handlers.base.Handler`
subclass, add it to ``_HANDLERS`` below and to ``ActionKind``.
"""

from __future__ import annotations

from actions.handlers.base import ActionInvalid, Handler
from actions.handlers.crm_update import CrmUpdateHandler
from actions.handlers.slack_notify import SlackNotifyHandler
from actions.handlers.warehouse_write import WarehouseWriteHandler
from actions.handlers.webhook import WebhookHandler

_HANDLERS: dict[str, Handler] = {
    h.kind: h for h in (WebhookHandler(), SlackNotifyHandler(), CrmUpdateHandler(), WarehouseWriteHandler())
}


def handler_for(kind: str) -> Handler:
    """The handler of ``kind``. Raises :class:`ActionInvalid` for an unknown kind."""
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise ActionInvalid({"kind": [f"unknown action kind {kind!r}"]}) from None
