"""The tool-using loop of an LLM specialist, with budgets and a full trace.

The playbook's required queries have already run in code (DESIGN.md §5: required queries lived
in prompts and were skipped); their rendered results are given to the model as data. The model
narrates and may call more tools. Budgets (per tenant, ``settings["budgets"]``): tool calls per
specialist (default 8), tokens per run (default 40,000), the run's wall clock (``RUN_BUDGET_SECONDS``);
a repeated identical tool call is not executed again and a second repeat ends the loop. When a
budget runs out, or the model stops abnormally, the specialist returns the playbook's own answer
with a note saying what is missing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from agents.llm.base import (
    STOP_CONTEXT,
    STOP_END_TURN,
    STOP_MALFORMED,
    STOP_MAX_TOKENS,
    STOP_REFUSED,
    STOP_TOOL_USE,
    LLMError,
    LLMProvider,
    Message,
    ToolResult,
)
from agents.models import StepKind
from agents.runtime.context import BudgetExceeded, RunContext, ToolError
from agents.runtime.prompts import prompt_ref, semantic_catalogue, specialist_prompt
from agents.runtime.tools import tool_run, tool_specs
from tenants.settings_schema import tenant_settings_section

MAX_OUTPUT_TOKENS = 2000


@dataclass
class Budgets:
    """Per-run limits; ``from_tenant`` reads ``tenant.settings["budgets"]``."""

    max_handoffs: int = 3
    max_tool_calls: int = 8
    max_tokens: int = 40_000

    @classmethod
    def from_tenant(cls, tenant) -> "Budgets":
        """Limits from ``tenant.settings["budgets"]``, defaults for keys not set.

        Raises ImproperlyConfigured (``tenants.settings_schema.TenantSettingsInvalid``) naming the
        key when a value is not a positive integer (or an unknown key is set).
        """
        parsed = tenant_settings_section(tenant, "budgets")
        return cls(max_handoffs=parsed.max_handoffs, max_tool_calls=parsed.max_tool_calls, max_tokens=parsed.max_tokens)


@dataclass
class Usage:
    """Tokens a run consumed so far, summed over its model calls (checked against
    ``Budgets.max_tokens``)."""

    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def as_dict(self) -> dict:
        """``{"input_tokens": n, "output_tokens": n}`` as stored on the run."""
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens}


@dataclass
class LoopResult:
    """A specialist loop's answer; ``partial_reason`` says why it stopped early ('' when it did not)."""

    markdown: str
    partial_reason: str = ""
    tool_calls: int = 0
    stop_reasons: list[str] = field(default_factory=list)


def llm_call(ctx: RunContext, provider: LLMProvider, *, agent: str, system_name: str, system: str, messages: list[Message], tools, usage: Usage, budgets: Budgets):
    """One model call, recorded as an ``llm`` step (prompt by reference, last turn, tool calls,
    stop reason, tokens, latency). Raises LLMError or BudgetExceeded."""
    ctx.check_budget()
    remaining = budgets.max_tokens - usage.total
    if remaining <= 0:
        raise BudgetExceeded(f"the run's token budget of {budgets.max_tokens:,} is spent")
    started = time.monotonic()
    ref = prompt_ref(system_name, system)
    try:
        completion = provider.complete(
            system=system, messages=messages, tools=tools, max_tokens=min(MAX_OUTPUT_TOKENS, remaining), timeout=ctx.remaining_seconds()
        )
    except LLMError as exc:
        ctx.record(agent=agent, kind=StepKind.LLM, name=provider.name, input={"system_prompt": ref, "turns": len(messages)}, error=str(exc), duration_ms=(time.monotonic() - started) * 1000)
        raise
    usage.input_tokens += completion.usage.input_tokens
    usage.output_tokens += completion.usage.output_tokens
    last = messages[-1]
    ctx.record(
        agent=agent,
        kind=StepKind.LLM,
        name=provider.name,
        input={
            "system_prompt": ref,
            "turns": len(messages),
            "last_turn": {"role": last.role, "text": last.text[:4000], "tool_results": [{"id": r.tool_call_id, "is_error": r.is_error, "content": r.content[:1500]} for r in last.tool_results]},
            "tools": [t.name for t in tools],
        },
        output={
            "text": completion.message.text[:4000],
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in completion.message.tool_calls],
            "stop_reason": completion.stop_reason,
            "usage": {"input_tokens": completion.usage.input_tokens, "output_tokens": completion.usage.output_tokens},
        },
        output_summary=f"{completion.stop_reason}; {len(completion.message.tool_calls)} tool call(s); {completion.usage.input_tokens}+{completion.usage.output_tokens} tokens",
        duration_ms=(time.monotonic() - started) * 1000,
    )
    return completion


def specialist_loop(
    ctx: RunContext,
    provider: LLMProvider,
    *,
    agent: str,
    question: str,
    playbook_markdown: str,
    history: list[Message],
    usage: Usage,
    budgets: Budgets,
) -> LoopResult:
    """Let the model answer ``question`` for ``agent`` from the playbook results and its tools."""
    try:
        model = ctx.semantic_model(agent=agent) if agent in ("data", "deal_analysis", "lead_analysis") else None
    except ToolError:
        model = None
    system = specialist_prompt(agent, as_of=ctx.as_of.isoformat(), catalogue=semantic_catalogue(model) if model else "")
    tools = tool_specs(agent, model)
    messages = list(history) + [
        Message(
            role="user",
            text=f"Question: {question}\n\n<playbook_results>\n{playbook_markdown or '(no playbook results)'}\n</playbook_results>",
        )
    ]
    seen: set[str] = set()
    repeats = tool_calls = 0
    stops: list[str] = []
    malformed_retries = 0

    def fallback(reason: str) -> LoopResult:
        note = f"\n\n> **Partial answer:** {reason}. The figures above are the playbook's own results."
        return LoopResult((playbook_markdown or "No results could be computed.") + note, reason, tool_calls, stops)

    while True:
        try:
            completion = llm_call(ctx, provider, agent=agent, system_name=agent, system=system, messages=messages, tools=tools, usage=usage, budgets=budgets)
        except BudgetExceeded as exc:
            return fallback(f"the model was stopped: {exc}")
        except LLMError as exc:
            return fallback(f"the model could not be reached ({exc})")
        stop = completion.stop_reason
        stops.append(stop)
        if stop == STOP_TOOL_USE and completion.message.tool_calls:
            messages.append(completion.message)
            results = []
            give_up = ""
            for call in completion.message.tool_calls:
                key = json.dumps([call.name, call.arguments], sort_keys=True, default=str)
                if tool_calls >= budgets.max_tool_calls:
                    results.append(ToolResult(call.id, json.dumps({"error": "tool-call budget spent; answer with what you have"}), True))
                    give_up = give_up or f"the tool-call budget ({budgets.max_tool_calls}) ran out"
                    continue
                if key in seen:
                    repeats += 1
                    results.append(ToolResult(call.id, json.dumps({"error": "identical call already made; its result is above"}), True))
                    if repeats >= 2:
                        give_up = "the model repeated the same tool call"
                    continue
                seen.add(key)
                tool_calls += 1
                content, is_error = tool_run(ctx, agent, call.name, call.arguments)
                results.append(ToolResult(call.id, content, is_error))
            messages.append(Message(role="tool", tool_results=results))
            if give_up:
                ctx.record(agent=agent, kind=StepKind.LLM, name="budget", output_summary=give_up, error=give_up)
                return fallback(give_up)
            continue
        if stop in STOP_MALFORMED and malformed_retries == 0:
            malformed_retries += 1
            messages.append(completion.message if completion.message.text or completion.message.tool_calls else Message(role="assistant", text="(malformed)"))
            messages.append(Message(role="user", text="Your last reply was malformed. Answer again, calling tools with valid JSON arguments."))
            continue
        if stop in (STOP_END_TURN, "stop_sequence") and completion.message.text.strip():
            return LoopResult(completion.message.text.strip(), "", tool_calls, stops)
        if stop == STOP_MAX_TOKENS and completion.message.text.strip():
            return LoopResult(completion.message.text.strip() + "\n\n> **Partial answer:** the model reached its output limit; the answer is cut short.", "max_tokens", tool_calls, stops)
        if stop in STOP_REFUSED:
            return fallback(f"the model's safety filter stopped its answer ({stop})")
        if stop == STOP_CONTEXT:
            return fallback("the conversation exceeded the model's context window")
        return fallback(f"the model ended without an answer ({stop})")
