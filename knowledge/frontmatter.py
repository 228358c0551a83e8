"""YAML front matter at the top of a knowledge document body.

Format (the Jekyll/Hugo convention)::

    ---
    stalled_in_stage_days: 30
    stages: {Discover: 10, Negotiate: 75}
    ---
    # Deal risk warnings
    ...

The opening ``---`` must be the very first line (a UTF-8 BOM and trailing spaces are tolerated);
the front matter ends at the next line that is exactly ``---``.

Parsing is done with libyaml's ``CSafeLoader`` when PyYAML was built with it (about ten times
faster than the pure-Python ``SafeLoader``, same safe subset), and the parsed mapping is cached
per process by the SHA-256 of the YAML block only (never the document body: the markdown is
sliced off the body on every call, which is cheap): a front matter is parsed once, however many
runs read its rules. Bodies without front matter never touch the cache. Callers get a deep copy,
so mutating the returned dict never changes the cache.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict

import yaml

_FENCE = "---"
#: libyaml when available; both refuse arbitrary Python objects.
YAML_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: Distinct YAML blocks kept parsed per process (least recently used dropped first).
CACHE_SIZE = 256
#: SHA-256 of the YAML block's text -> its parsed mapping (never handed out: callers get copies).
_cache: OrderedDict[bytes, dict] = OrderedDict()
_cache_lock = threading.Lock()


class FrontMatterError(ValueError):
    """The front matter is not valid YAML, is not a mapping, or is never closed.

    ``line`` is the 1-based line number in the document body when known, else None.
    """

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def split_front_matter(body: str) -> tuple[dict, str]:
    """Split ``body`` into ``(front_matter, markdown)``.

    Returns ``({}, body)`` unchanged when the body does not start with a ``---`` line, and
    ``({}, rest)`` for an empty front matter block. YAML is parsed with the safe loader (libyaml's
    ``CSafeLoader`` when available: no arbitrary objects; dates become ``datetime.date``), once
    per distinct YAML block per process (cached by its SHA-256); the markdown is sliced off
``body`` on every call; the dict returned is the caller's own copy.

    Raises:
        FrontMatterError: the block is opened but never closed, the YAML is invalid (message
            names the line in ``body``), or it parses to something other than a mapping.
    """
    text = body[1:] if body.startswith("\ufeff") else body
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != _FENCE:
        return {}, body
    for index in range(1, len(lines)):
        if lines[index].rstrip() == _FENCE:
            closing = index
            break
    else:
        raise FrontMatterError(
            "Front matter opened by '---' on line 1 is never closed: add a '---' line after it.", line=1
        )
    yaml_text = "".join(lines[1:closing])
    markdown = "".join(lines[closing + 1 :])
    key = hashlib.sha256(yaml_text.encode("utf-8", "surrogatepass")).digest()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is not None:
        return copy.deepcopy(hit), markdown
    data = _parse_yaml(yaml_text)
    with _cache_lock:
        _cache[key] = copy.deepcopy(data)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data, markdown


def _parse_yaml(yaml_text: str) -> dict:
    """The uncached parse of a front matter block (the lines between the fences, which start on
    body line 2); errors as for :func:`split_front_matter` (errors are not cached)."""
    try:
        data = yaml.load(yaml_text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        # mark.line is 0-based within the YAML text, which starts on body line 2.
        line = mark.line + 2 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f" at line {line}" if line else ""
        raise FrontMatterError(f"Invalid YAML in front matter{where}: {problem}.", line=line) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrontMatterError(
            f"Front matter must be a YAML mapping (key: value lines), got a {type(data).__name__}.", line=2
        )
    return data
