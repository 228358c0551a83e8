"""Any OpenAI-compatible chat-completions endpoint with tools (OpenAI, Azure OpenAI's v1
endpoint, vLLM, Ollama...), through the official ``openai`` SDK with a per-tenant base URL.

Finish reasons map onto the Converse stop reasons: ``stop`` -> end_turn, ``tool_calls`` ->
tool_use, ``length`` -> max_tokens, ``content_filter`` -> content_filtered. Tool arguments arrive
as JSON text; text that does not parse becomes ``malformed_tool_use``.
"""

from __future__ import annotations

import json

import openai
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from agents.llm.base import Completion, LLMConfigurationError, LLMError, Message, ToolCall, ToolSpec, Usage

FINISH = {"stop": "end_turn", "tool_calls": "tool_use", "function_call": "tool_use", "length": "max_tokens", "content_filter": "content_filtered"}


class OpenAICompatProvider:
    """LLM provider on an OpenAI-compatible API. ``client`` is an ``openai.OpenAI`` instance."""

    name = "openai"
    is_offline = False

    def __init__(self, *, client: openai.OpenAI, model: str):
        self.client = client
        self.model = model

    @classmethod
    def from_credential(cls, cred) -> "OpenAICompatProvider":
        """From an ``llm``/``openai`` credential: config ``base_url``, ``model``; secret ``api_key``."""
        model = cred.config.get("model")
        if not model:
            raise ImproperlyConfigured("the openai LLM credential needs a 'model' in its config")
        client = openai.OpenAI(
            base_url=cred.config.get("base_url") or None,
            api_key=cred.secrets().get("api_key") or "not-needed",
            max_retries=int(cred.config.get("max_retries", 3)),
            timeout=float(getattr(settings, "LLM_TIMEOUT_SECONDS", 60)),
        )
        return cls(client=client, model=model)

    def complete(self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int, timeout: float | None = None) -> Completion:
        """One chat completion. Raises LLMConfigurationError (4xx other than 429) or LLMError."""
        payload = [{"role": "system", "content": system}]
        for m in messages:
            payload.extend(to_openai_messages(m))
        kwargs = {"model": self.model, "messages": payload, "max_tokens": max_tokens}
        if timeout is not None:
            kwargs["timeout"] = max(1.0, min(timeout, float(getattr(settings, "LLM_TIMEOUT_SECONDS", 60))))
        if tools:
            kwargs["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.input_schema}} for t in tools]
        try:
            response = self.client.chat.completions.create(**kwargs)
        except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError, openai.BadRequestError) as exc:
            raise LLMConfigurationError(f"the model endpoint refused the request: HTTP {exc.status_code}") from None
        except openai.APIError as exc:  # rate limits, 5xx and connection errors after the SDK's retries
            raise LLMError(f"the model endpoint failed: {type(exc).__name__}") from None
        choice = response.choices[0]
        stop = FINISH.get(choice.finish_reason or "stop", choice.finish_reason or "end_turn")
        calls = []
        for tc in choice.message.tool_calls or []:
            try:
                args = json.loads(tc.function.arguments or "{}")
            except json.JSONDecodeError:
                stop = "malformed_tool_use"
                continue
            calls.append(ToolCall(tc.id, tc.function.name, args if isinstance(args, dict) else {}))
        usage = response.usage
        return Completion(
            message=Message(role="assistant", text=choice.message.content or "", tool_calls=calls),
            stop_reason=stop,
            usage=Usage(getattr(usage, "prompt_tokens", 0) or 0, getattr(usage, "completion_tokens", 0) or 0),
        )


def to_openai_messages(message: Message) -> list[dict]:
    """Our Message -> chat messages (tool results become one ``tool`` message each)."""
    if message.role == "assistant":
        out = {"role": "assistant", "content": message.text or None}
        if message.tool_calls:
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in message.tool_calls]
        return [out]
    msgs = [{"role": "tool", "tool_call_id": r.tool_call_id, "content": ("ERROR: " if r.is_error else "") + r.content} for r in message.tool_results]
    if message.text:
        msgs.append({"role": "user", "content": message.text})
    return msgs
