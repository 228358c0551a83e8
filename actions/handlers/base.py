"""The contract every action handler implements, and the errors that steer retries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rest_framework import serializers

if TYPE_CHECKING:
    from actions.models import Action
    from actions.selectors import ActionPolicy
    from tenants.models import Tenant


def _messages(errors, prefix: str = "") -> list[str]:
    """``{"fields": {"Id": ["not updatable"]}}`` -> ``["fields.Id: not updatable"]``."""
    if isinstance(errors, dict):
        out: list[str] = []
        for key, value in errors.items():
            name = prefix if key == "non_field_errors" else (f"{prefix}.{key}" if prefix else str(key))
            out += _messages(value, name)
        return out
    if isinstance(errors, (list, tuple)):
        return [m for e in errors for m in _messages(e, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


class ActionInvalid(ValueError):
    """The payload does not match the kind's schema (or the kind is unknown). ``errors`` maps
    field -> list of messages (DRF's shape, as plain strings); ``str()`` is one readable line."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(_messages(errors)) or "invalid payload")


class RetryableError(Exception):
    """A failure that may pass on a later attempt (network error, 429, 5xx, lock timeout).
    ``retry_after``: seconds the other side asked us to wait (``Retry-After``), or None."""

    def __init__(self, message: str, *, retry_after: float | None = None, result: dict | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.result = result or {}


class PermanentError(Exception):
    """A failure no retry can fix (refused by the receiver, SSRF guard, bad configuration)."""

    def __init__(self, message: str, *, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


def _plain(value):
    """Validated data as plain JSON types (serializers here only use JSON-typed fields)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Described:
    """What a human sees before approving: ``target`` (<= 255 chars) and ``preview`` (text)."""

    target: str
    preview: str


class Handler:
    """Base class of action handlers (one module per kind, registered in ``actions.handlers``).

    Subclasses set ``kind`` and ``serializer_class`` (a DRF serializer validating the payload)
    and implement :meth:`describe` and :meth:`execute`. ``execute`` runs on a worker inside
    ``tenant_context(action.tenant)``; it returns the JSON ``result`` on success and raises
    :class:`RetryableError` or :class:`PermanentError` otherwise (anything else is treated as
    retryable, so nothing is lost to a bug; the error is logged).
    """

    kind: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer]]

    def validate(self, *, tenant: "Tenant", payload: dict) -> dict:
        """The validated payload (JSON types only). Raises :class:`ActionInvalid`."""
        serializer = self.serializer_class(data=payload, context={"tenant": tenant})
        if not serializer.is_valid():
            raise ActionInvalid(serializer.errors)
        return _plain(serializer.validated_data)

    def describe(self, *, tenant: "Tenant", payload: dict) -> Described:
        raise NotImplementedError

    def needs_approval(self, *, policy: "ActionPolicy", tenant: "Tenant", payload: dict, run=None) -> bool:
        """Whether the policy holds this action for a human (default: kind not auto-approved)."""
        return self.kind not in policy.auto_approve

    def execute(self, action: "Action") -> dict:
        raise NotImplementedError
