"""Amazon Bedrock through the Converse API (boto3 ``bedrock-runtime``), with tool use.

Request shape (Converse): ``system=[{"text"}]``, ``messages=[{"role", "content": [blocks]}]``
with blocks ``{"text"}``, ``{"toolUse": {"toolUseId", "name", "input"}}`` and
``{"toolResult": {"toolUseId", "content": [{"text"}], "status": "success"|"error"}}``,
``toolConfig={"tools": [{"toolSpec": {"name", "description", "inputSchema": {"json"}}}]}``.
Every stop reason of the service model is returned normalised in ``Completion.stop_reason``;
the agent loop decides what each means. Throttling and transient errors are retried with
exponential backoff (tenacity); botocore's own retries are off so one policy applies.
"""

from __future__ import annotations

import logging

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential

from agents.llm.base import Completion, LLMConfigurationError, LLMError, Message, ToolCall, ToolSpec, Usage

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"  # Claude Sonnet via a US inference profile
DEFAULT_REGION = "us-east-1"
TRANSIENT = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException", "ModelNotReadyException", "ModelTimeoutException"}


def bedrock_runtime_client(*, region: str, credentials: dict | None = None):
    """A ``bedrock-runtime`` client: tenant keys when given, else the standard AWS chain."""
    kwargs = {}
    if credentials and credentials.get("aws_access_key_id"):
        kwargs = {
            "aws_access_key_id": credentials["aws_access_key_id"],
            "aws_secret_access_key": credentials.get("aws_secret_access_key"),
            "aws_session_token": credentials.get("aws_session_token") or None,
        }
    config = Config(retries={"total_max_attempts": 1}, read_timeout=getattr(settings, "LLM_TIMEOUT_SECONDS", 60), connect_timeout=5)
    return boto3.client("bedrock-runtime", region_name=region, config=config, **kwargs)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code") in TRANSIENT
    return isinstance(exc, BotoCoreError)


class BedrockProvider:
    """LLM provider on Bedrock Converse. ``client`` is a boto3 bedrock-runtime client (the seam
    tests wrap in ``botocore.stub.Stubber``)."""

    name = "bedrock"
    is_offline = False

    def __init__(self, *, client, model_id: str = DEFAULT_MODEL_ID, max_attempts: int = 4, backoff_seconds: float | None = None):
        self.client = client
        self.model_id = model_id
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds if backoff_seconds is not None else getattr(settings, "LLM_RETRY_BASE_SECONDS", 1.0)

    @classmethod
    def from_credential(cls, cred) -> "BedrockProvider":
        """From an ``llm``/``bedrock`` credential (config ``region``, ``model_id``; optional secrets
        ``aws_access_key_id``/``aws_secret_access_key``/``aws_session_token``), or the AWS chain
        and defaults when ``cred`` is None."""
        config = cred.config if cred else {}
        secrets = cred.secrets() if cred else {}
        try:
            client = bedrock_runtime_client(region=config.get("region", DEFAULT_REGION), credentials=secrets)
        except BotoCoreError as exc:
            raise ImproperlyConfigured(f"cannot create a Bedrock client: {exc}") from exc
        return cls(client=client, model_id=config.get("model_id", DEFAULT_MODEL_ID))

    def complete(self, *, system: str, messages: list[Message], tools: list[ToolSpec], max_tokens: int, timeout: float | None = None) -> Completion:
        """One Converse call. Raises LLMConfigurationError (access, validation, unknown model) or
        LLMError (transient errors after retries)."""
        request = {
            "modelId": self.model_id,
            "system": [{"text": system}],
            "messages": [to_converse_message(m) for m in messages],
            "inferenceConfig": {"maxTokens": max_tokens},
        }
        if tools:
            request["toolConfig"] = {"tools": [{"toolSpec": {"name": t.name, "description": t.description, "inputSchema": {"json": t.input_schema}}} for t in tools]}
        try:
            for attempt in Retrying(
                retry=retry_if_exception(_transient),
                # No new attempt once the run's remaining budget is spent.
                stop=stop_after_attempt(self.max_attempts) | stop_after_delay(timeout if timeout is not None else 10**6),
                wait=wait_exponential(multiplier=self.backoff_seconds, max=20),
                reraise=False,
            ):
                with attempt:
                    response = self.client.converse(**request)
        except RetryError as exc:
            raise LLMError(f"Bedrock kept failing after {self.max_attempts} attempts: {_describe(exc.last_attempt.exception())}") from None
        except ClientError as exc:
            raise LLMConfigurationError(f"Bedrock refused the request: {_describe(exc)}") from None
        return from_converse_response(response)


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code')}: {err.get('Message', '')}"[:300]
    return type(exc).__name__ if exc else "unknown error"


def to_converse_message(message: Message) -> dict:
    """Our Message -> a Converse message. Tool results travel in a ``user`` turn (Converse rule)."""
    content: list[dict] = []
    if message.text:
        content.append({"text": message.text})
    for call in message.tool_calls:
        content.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.arguments}})
    for result in message.tool_results:
        content.append(
            {"toolResult": {"toolUseId": result.tool_call_id, "content": [{"text": result.content}], "status": "error" if result.is_error else "success"}}
        )
    role = "user" if message.role in ("user", "tool") else "assistant"
    return {"role": role, "content": content or [{"text": "(empty)"}]}


def from_converse_response(response: dict) -> Completion:
    """A Converse response -> Completion (text joined, tool uses parsed, usage in tokens)."""
    blocks = (((response.get("output") or {}).get("message") or {}).get("content")) or []
    text = "\n".join(b["text"] for b in blocks if "text" in b)
    calls = [ToolCall(b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"].get("input") or {}) for b in blocks if "toolUse" in b]
    usage = response.get("usage") or {}
    return Completion(
        message=Message(role="assistant", text=text, tool_calls=calls),
        stop_reason=response.get("stopReason", "end_turn"),
        usage=Usage(int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0))),
    )
