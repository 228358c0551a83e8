"""The LLM provider interface. Providers exchange typed messages, tools with JSON schemas and
tool calls, so Bedrock Converse and OpenAI-compatible chat completions slot in behind it.

The ``offline`` provider is the default: there is no model, the specialists' deterministic
playbooks compute the answer and render it from templates, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: ``input_schema`` is a JSON Schema object."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    """A tool call requested by the model (``arguments`` already parsed from JSON)."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    """The result returned to the model for ``tool_call_id``; ``is_error`` marks a failed call."""

    tool_call_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True)
class Message:
    """One conversation turn: role is ``user``, ``assistant`` or ``tool``."""

    role: str
    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_results: list[ToolResult] = field(default_factory=list)


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """A model's reply. ``stop_reason``: end_turn, tool_use, max_tokens, content_filtered..."""

    message: Message
    stop_reason: str
    usage: Usage = Usage()


class LLMProvider(Protocol):
    name: str
    is_offline: bool

    def complete(self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Completion:
        """One model call. Raises ``LLMError`` subclasses on provider failures."""


class LLMError(Exception):
    """A provider call failed (after retries)."""


class OfflineProvider:
    """No LLM. ``complete`` is never called: the runtime checks ``is_offline`` and renders the
    deterministic playbooks' templates instead."""

    name = "offline"
    is_offline = True

    def complete(self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int) -> Completion:
        raise LLMError("the offline provider has no model; use the deterministic playbooks")


OFFLINE_NOTICE = "_Answered offline: computed by deterministic playbooks from your data; no LLM was used._"


def provider_for_tenant(tenant) -> LLMProvider:
    """The tenant's provider from ``tenant.settings["llm_provider"]`` (default ``offline``).

    Raises ImproperlyConfigured for a provider this build does not have yet (bedrock and
    openai arrive with the LLM issue), so a misconfigured tenant fails loudly instead of
    silently answering offline.
    """
    name = (tenant.settings or {}).get("llm_provider", "offline")
    if name == "offline":
        return OfflineProvider()
    raise ImproperlyConfigured(f"LLM provider {name!r} is not available in this build; use 'offline'")
