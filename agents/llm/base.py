"""The LLM provider interface. Providers exchange typed messages, tools with JSON schemas and
tool calls, so Bedrock Converse and OpenAI-compatible chat completions slot in behind it.

The ``offline`` provider is the default: there is no model, the specialists' deterministic
playbooks compute the answer and render it from templates, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


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
    """Tokens one model call consumed, as the provider reported them (the run's running total is
    ``agents.runtime.loop.Usage``)."""

    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """A model's reply. ``stop_reason``: end_turn, tool_use, max_tokens, content_filtered..."""

    message: Message
    stop_reason: str
    usage: Usage = Usage()


class LLMProvider(Protocol):
    """A model backend (offline, bedrock, openai); ``is_offline`` providers are never called."""

    name: str
    is_offline: bool

    def complete(
        self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int, timeout: float | None = None
    ) -> Completion:
        """One model call, retries included, within ``timeout`` seconds when given (the run's
        remaining budget). Raises ``LLMError`` subclasses on provider failures."""


class LLMError(Exception):
    """A provider call failed (after retries)."""


class LLMConfigurationError(LLMError):
    """The provider is misconfigured (missing model, credentials, region); not retried."""


# Normalised stop reasons (Bedrock Converse's names; OpenAI finish reasons map onto them).
STOP_END_TURN = "end_turn"
STOP_TOOL_USE = "tool_use"
STOP_MAX_TOKENS = "max_tokens"
STOP_REFUSED = {"guardrail_intervened", "content_filtered"}
STOP_CONTEXT = "model_context_window_exceeded"
STOP_MALFORMED = {"malformed_model_output", "malformed_tool_use"}


class OfflineProvider:
    """No LLM. ``complete`` is never called: the runtime checks ``is_offline`` and renders the
    deterministic playbooks' templates instead."""

    name = "offline"
    is_offline = True

    def complete(self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int, timeout: float | None = None) -> Completion:
        raise LLMError("the offline provider has no model; use the deterministic playbooks")


OFFLINE_NOTICE = "_Answered offline: computed by deterministic playbooks from your data; no LLM was used._"
