"""JSON depth and size limits applied before parsing, for every JSON body we accept.

Python's ``json`` module is recursive: a body of 100,000 nested ``[`` raises ``RecursionError``
(not a ``ValueError``), which DRF does not turn into a ``ParseError`` and the Slack views did not
catch, so it became a 500. :func:`json_loads_limited` first checks the size (bytes) and scans the
text for its nesting depth without recursing (strings removed with a linear regular expression,
then a loop over the remaining brackets only), and parses only when both are within bounds.

Errors are :class:`JsonLimitError`, a ``ValueError`` subclass, so callers that already catch
``ValueError`` for malformed JSON answer 400 for these too. :class:`LimitedJSONParser` is the DRF
parser of the API (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``): a limit or malformed JSON is a
``ParseError`` (400 ``parse_error`` in the API's error shape).
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json as drf_json

MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays/objects accepted (the top-level object is depth 1)."""

# A JSON string, escapes included; an unterminated one runs to the end of the text (linear: no
# backtracking into the string body; json.loads then reports it as malformed).
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")


class JsonLimitError(ValueError):
    """The JSON body is too large or too deeply nested (message says which and the limit)."""


def json_depth(text: str, *, stop_above: int | None = None) -> int:
    """Maximum nesting depth of arrays/objects in the JSON ``text`` (0 for a scalar), iteratively.

    Brackets inside strings do not count. Malformed text is not an error here (the parser reports
    it); unbalanced closers are ignored. With ``stop_above``, returns as soon as the depth exceeds
    it (the exact figure is then ``stop_above + 1``).
    """
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif depth:
            depth -= 1
    return deepest


def json_check(text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int | None = None) -> str:
    """Check ``text`` against the limits before any parsing; return it as ``str``.

    ``bytes`` are decoded with the encoding JSON allows (UTF-8/16/32, detected like
    ``json.loads``). ``max_bytes`` defaults to ``settings.MAX_REQUEST_BYTES`` and applies to the
    raw size (bytes, or the UTF-8 size of a ``str``).
    Raises :class:`JsonLimitError` (too large, too deep), ``UnicodeDecodeError`` (bad bytes).
    """
    limit = settings.MAX_REQUEST_BYTES if max_bytes is None else max_bytes
    if isinstance(text, (bytes, bytearray)):
        size = len(text)
        if size > limit:
            raise JsonLimitError(f"JSON body larger than {limit} bytes.")
        text = bytes(text).decode(json.detect_encoding(text), "strict")
    # a str of at most limit/4 characters fits in limit UTF-8 bytes: encode only when it may not
    elif len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8", "surrogatepass")) > limit):
        raise JsonLimitError(f"JSON body larger than {limit} bytes.")
    _check_depth(text, max_depth)
    return text


def _check_depth(text: str, max_depth: int) -> None:
    if json_depth(text, stop_above=max_depth) > max_depth:
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels.")


def _loads(text: str, max_depth: int, strict_constants: bool) -> Any:
    """``json.loads`` of an already checked ``text``; ``RecursionError`` becomes :class:`JsonLimitError`."""
    try:
        if strict_constants:
            return json.loads(text, parse_constant=drf_json.strict_constant)
        return json.loads(text)
    except RecursionError as exc:  # belt and braces: the depth check should make this unreachable
        raise JsonLimitError(f"JSON nested deeper than {max_depth} levels.") from exc


def json_loads_limited(
    text: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int | None = None, strict_constants: bool = True
) -> Any:
    """``json.loads`` after :func:`json_check`.

    ``strict_constants``: ``NaN``/``Infinity`` are refused (as DRF's strict JSON does).
    Raises :class:`JsonLimitError` for the limits, ``ValueError`` (``json.JSONDecodeError``) for
    malformed JSON, ``UnicodeDecodeError`` for undecodable bytes. Never ``RecursionError``.
    """
    return _loads(json_check(text, max_depth=max_depth, max_bytes=max_bytes), max_depth, strict_constants)


class LimitedJSONParser(JSONParser):
    """DRF's ``JSONParser`` with the depth/size limits checked before parsing.

    Any limit, bad charset, undecodable byte or malformed JSON raises ``ParseError`` (the API
    answers 400 ``parse_error`` with the reason, e.g. "JSON parse error - JSON nested deeper than
    64 levels.").
    """

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        # Django parsed the Content-Type parameters already (request.content_params); it keeps
        # only a known charset as request.encoding (DRF's parser_context["encoding"]), so an
        # unknown one is read from the parameters to be refused rather than silently replaced.
        params = getattr(parser_context.get("request"), "content_params", None) or {}
        encoding = params.get("charset") or parser_context.get("encoding") or settings.DEFAULT_CHARSET
        try:
            codecs.lookup(encoding)
            "".encode(encoding)
        except (LookupError, UnicodeError):
            raise ParseError(f'Unsupported charset "{encoding[:40]}" in request Content-Type header.')
        limit = settings.MAX_REQUEST_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise ParseError(f"JSON parse error - JSON body larger than {limit} bytes.")
        try:
            text = raw.decode(encoding)
            _check_depth(text, MAX_JSON_DEPTH)  # the size was checked on the bytes above
            return _loads(text, MAX_JSON_DEPTH, self.strict)
        except (ValueError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}")
