"""Redaction of secrets in logs and run traces (DESIGN.md §5: auth headers were logged)."""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[REDACTED]"

# Key names whose values are secrets wherever they appear (headers, configs, tool inputs).
# Whole words of a key name ("bot_token", "X-Subscription-Token", "aws_secret_access_key"), so
# counters such as "input_tokens" or "max_tokens" are kept.
_SECRET_KEY_RE = re.compile(
    r"(?:^|[_\-\s.])(authorization|password|passwd|secret|secrets|token|api[_-]?key|apikey|signing[_-]?secret|private[_-]?key"
    r"|access[_-]?key|credential|credentials|cookie|session[_-]?id|whsec)(?:$|[_\-\s.])",
    re.IGNORECASE,
)
# Secret-looking values inside free text.
_SECRET_VALUE_RES = [
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bxox[abpors]-[A-Za-z0-9-]{8,}"),  # Slack tokens
    re.compile(r"\brk_[A-Za-z0-9]{6,}_[A-Za-z0-9_-]{16,}"),  # our API keys
    re.compile(r"\bwhsec_[A-Za-z0-9+/=]{16,}"),
    re.compile(r"(?i)(postgres(?:ql)?://[^:/\s]+:)[^@\s]+(@)"),  # password in a DSN
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
]


def redact_text(text: str) -> str:
    """Return ``text`` with tokens, keys and DSN passwords replaced by ``[REDACTED]``."""
    for pattern in _SECRET_VALUE_RES:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(2)}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any) -> Any:
    """Return a deep copy of ``value`` (dicts, lists, strings) with secrets redacted.

    Dict entries whose key names a secret (``password``, ``token``, ``authorization``...) are
    replaced whole; strings are scanned for secret-looking values.
    """
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY_RE.search(k) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


class RedactingFilter(logging.Filter):
    """Logging filter that redacts secrets in the formatted message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed log call must not break logging
            return True
        record.msg = redact_text(message)
        record.args = None
        # Tracebacks carry exception messages (DSNs, tokens): format them now, redacted.
        if record.exc_info:
            record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
