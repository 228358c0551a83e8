import logging

from revops.lib.redact import RedactingFilter, redact, redact_text


def test_secret_keys_redacted_but_counters_kept():
    out = redact({"bot_token": "xoxb-1", "usage": {"input_tokens": 5, "max_tokens": 9}, "X-Subscription-Token": "k", "password": "p"})
    assert out == {"bot_token": "[REDACTED]", "usage": {"input_tokens": 5, "max_tokens": 9}, "X-Subscription-Token": "[REDACTED]", "password": "[REDACTED]"}


def test_secret_values_in_text():
    text = redact_text("Authorization: Bearer abcdefghijkl1234 dsn postgresql://u:hunter2@db/x token xoxb-123456789-abc")
    assert "abcdefghijkl1234" not in text and "hunter2" not in text and "xoxb-123456789" not in text


def test_tracebacks_are_redacted():
    try:
        raise RuntimeError("cannot connect to postgresql://app:s3cretpw@db/prod")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_info is None and "s3cretpw" not in record.exc_text and "RuntimeError" in record.exc_text
