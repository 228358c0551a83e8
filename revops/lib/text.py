"""Text that PostgreSQL can store, and the strict string field of the API serializers.

PostgreSQL refuses two kinds of characters in ``text``/``varchar`` and ``jsonb`` values:

* NUL (U+0000): ``text`` cannot hold it (``psycopg.DataError``), ``jsonb`` refuses ``\\u0000``;
* unpaired UTF-16 surrogates (U+D800-U+DFFF): Python's ``json`` module decodes ``"\\ud800"`` into
  such a character, which cannot be encoded as UTF-8 (``UnicodeEncodeError`` in the driver).

Every text that reaches the database from outside (API bodies, KB imports, admin forms) is either
checked with :func:`db_text_problem` and refused with that reason, or cleaned with
:func:`strip_db_unsafe`. The API refuses (a client should learn its input was not stored as
sent); :class:`StrictCharField` does it and documents the rule in the OpenAPI schema as a
``pattern``.
"""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

#: Characters PostgreSQL cannot store in text: NUL and unpaired surrogates.
DB_UNSAFE_RE = re.compile("[\x00\ud800-\udfff]")
#: JSON Schema ``pattern`` (ECMA 262 and Python ``re`` read it alike): no NUL, no surrogate.
SAFE_TEXT_PATTERN = r"^[^\u0000\ud800-\udfff]*$"
#: The same, not empty: for fields that allow blank, drf-spectacular writes
#: ``oneOf: [<this>, {maxLength: 0}]``, and the two branches must not both match "".
SAFE_NON_EMPTY_PATTERN = r"^[^\u0000\ud800-\udfff]+$"
#: The same with at least one character that is not whitespace (for fields whose value is
#: trimmed and must not end up blank).
SAFE_NON_BLANK_PATTERN = r"^\s*[^\s\u0000\ud800-\udfff][^\u0000\ud800-\udfff]*$"


def db_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored by PostgreSQL, or None when it can.

    The reason names the first offending character and its 0-based position, e.g.
    ``"contains a NUL character (U+0000) at position 3"``.
    """
    match = DB_UNSAFE_RE.search(text)
    if match is None:
        return None
    char = match.group()
    what = "a NUL character" if char == "\x00" else "an unpaired surrogate"
    return f"contains {what} (U+{ord(char):04X}) at position {match.start()}; such characters cannot be stored"


def strip_db_unsafe(text: str) -> str:
    """``text`` without NUL characters and unpaired surrogates (everything else kept)."""
    return DB_UNSAFE_RE.sub("", text)


class StrictCharField(serializers.CharField):
    """A ``CharField`` that accepts only JSON strings, and only text PostgreSQL can store.

    DRF's ``CharField`` turns ``0`` into ``"0"`` and ``12345`` into ``"12345"``; this field
    refuses anything but ``str`` (``"Must be a string, not <JSON type>."``). NUL characters and
    unpaired surrogates are refused with :func:`db_text_problem`'s reason. Everything else is as
    ``CharField`` (``trim_whitespace``, ``allow_blank``, ``max_length`` ...). The OpenAPI schema
    gets a ``pattern`` (:data:`SAFE_NON_BLANK_PATTERN` when blank is not allowed, with
    ``minLength`` 1; else ``oneOf`` :data:`SAFE_NON_EMPTY_PATTERN` or the empty string) besides
    ``maxLength``.
    """

    default_error_messages = {
        "not_a_string": "Must be a string, not {kind}.",
        "unsafe_text": "The text {reason}.",
    }

    _JSON_KINDS = ((bool, "a boolean"), (int, "a number"), (float, "a number"), (list, "an array"), (dict, "an object"))

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            kind = next((name for cls, name in self._JSON_KINDS if isinstance(data, cls)), type(data).__name__)
            self.fail("not_a_string", kind=kind)
        value = super().to_internal_value(data)
        problem = db_text_problem(value)
        if problem:
            self.fail("unsafe_text", reason=problem)
        return value

    def run_validation(self, data=serializers.empty):
        # CharField's blank check calls str(data) first: refuse non-strings before it, so a number
        # or an object never reads as "may not be blank" nor slips through as its str().
        if data is not serializers.empty and data is not None and not isinstance(data, str):
            self.to_internal_value(data)
        return super().run_validation(data)


class StrictUrlField(StrictCharField, serializers.URLField):
    """``URLField`` with :class:`StrictCharField`'s type and character rules."""


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    """Adds the character rule to the schema of :class:`StrictCharField` (and subclasses)."""

    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        # The serializer mapper adds the validators' maxLength afterwards and, for a field that
        # allows blank and has a pattern or format, splits it into oneOf [non-empty, ""].
        if not self.target.allow_blank and not self.target.read_only:
            schema["minLength"] = max(1, schema.get("minLength", 0))  # "" is refused ("may not be blank")
        if schema.get("format") != "uri":  # URLs: the uri format already excludes these characters
            schema["pattern"] = SAFE_NON_EMPTY_PATTERN if self.target.allow_blank else SAFE_NON_BLANK_PATTERN
        return schema
