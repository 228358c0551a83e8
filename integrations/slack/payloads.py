"""Typed models of the Slack payloads we accept, checked at the edge (DESIGN.md §5, typed boundaries).

Source: Slack's Events API ``event_callback`` envelope (https://api.slack.com/apis/events-api
"Callback field overview") and the interactivity ``block_actions`` payload
(https://api.slack.com/reference/interaction-payloads/block-actions). Only the fields our code
reads are typed; everything else passes through untouched (``extra="allow"``), and every field is
optional so payload types we ignore still validate. A validly signed payload that does not match
(e.g. ``"authorizations": 5``, ``"team": "TA"``, ``"container": [1]``) is acknowledged 200 and
ignored by the views with a log line, so Slack stops retrying; it never reaches a 500.

Text that reaches PostgreSQL is made storable: identifiers (ids, timestamps) may hold no control
characters or lone surrogates (refused: the payload is ignored), and free text has NUL and lone
surrogates removed (PostgreSQL refuses NUL in ``text`` and ``\\u0000`` in ``jsonb``; psycopg cannot
encode a lone surrogate).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError, field_validator

from revops.lib.text import strip_db_unsafe

# Slack ids and timestamps: printable, no control characters, no lone surrogates, bounded.
SlackId = Annotated[StrictStr, Field(max_length=255, pattern=r"^[^\x00-\x1f\x7f\ud800-\udfff]*$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, regex_engine="python-re")


# --- Events API ----------------------------------------------------------------------------------


class SlackAuthorization(_Model):
    """One entry of ``authorizations``: who the event was delivered to."""

    team_id: SlackId | None = None
    user_id: SlackId | None = None
    is_bot: StrictBool | None = None


class SlackInnerEvent(_Model):
    """The ``event`` of an ``event_callback`` (``app_mention``, ``message``, …)."""

    type: SlackId | None = None
    user: SlackId | None = None
    user_team: SlackId | None = None
    bot_id: SlackId | None = None
    subtype: SlackId | None = None
    channel: SlackId | None = None
    channel_type: SlackId | None = None
    ts: SlackId | None = None
    thread_ts: SlackId | None = None
    text: StrictStr | None = None

    @field_validator("text")
    @classmethod
    def _storable_text(cls, value: str | None) -> str | None:
        return None if value is None else strip_db_unsafe(value)


class SlackEventEnvelope(_Model):
    """An Events API request body other than ``url_verification`` (checked before it)."""

    type: SlackId | None = None
    team_id: SlackId | None = None
    event_id: SlackId | None = None
    event: SlackInnerEvent | None = None
    authorizations: list[SlackAuthorization] | None = None


# --- interactivity -------------------------------------------------------------------------------


class SlackRef(_Model):
    """``{"id": ...}`` objects: ``team``, ``user``, ``channel``."""

    id: SlackId | None = None


class SlackContainer(_Model):
    """Where the clicked element is: ``{"type": "message", "channel_id", "message_ts", "thread_ts"?}``."""

    channel_id: SlackId | None = None
    thread_ts: SlackId | None = None


class SlackAction(_Model):
    """One element of ``actions`` (a button click): ``action_id`` and our ``value``."""

    action_id: SlackId | None = None
    value: SlackId | None = None


class SlackInteraction(_Model):
    """An interactivity payload (the JSON in the ``payload`` form field)."""

    type: SlackId | None = None
    team: SlackRef | None = None
    user: SlackRef | None = None
    channel: SlackRef | None = None
    container: SlackContainer | None = None
    actions: list[SlackAction] | None = None


def _problem(exc: ValidationError) -> str:
    """The first error as ``<field path>: <message>`` (no input values: they may be long or odd)."""
    first = exc.errors(include_input=False, include_url=False)[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "payload"
    return f"{where}: {first.get('msg', 'invalid')}"[:200]


def _checked(model: type[_Model], payload: Any) -> dict | str:
    if not isinstance(payload, dict):
        return "ignored: payload is not a JSON object"
    try:
        parsed = model.model_validate(payload)
    except ValidationError as exc:
        return f"ignored: unexpected payload shape ({_problem(exc)})"
    return parsed.model_dump(exclude_unset=True)


def slack_event_envelope_check(payload: Any) -> dict | str:
    """The Events API ``payload`` with its typed fields validated and its text made storable, or
    ``"ignored: <why>"`` when it does not match :class:`SlackEventEnvelope`."""
    return _checked(SlackEventEnvelope, payload)


def slack_interaction_check(payload: Any) -> dict | str:
    """The interactivity ``payload`` validated (see :class:`SlackInteraction`), or ``"ignored: <why>"``."""
    return _checked(SlackInteraction, payload)
