"""Typed readers for configuration from the environment.

Every setting the project reads comes through these helpers so that a bad value fails at start-up
with :class:`django.core.exceptions.ImproperlyConfigured` instead of deep inside a request.
Secrets may also be given as ``<NAME>_FILE`` (a path whose content is the value), the convention
used by Docker and Kubernetes secrets.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    """Return ``$NAME`` (or the content of the file named by ``$NAME_FILE``), else ``default``."""
    value = os.environ.get(name)
    if value is not None:
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc}") from exc
    return default


def env_bool(name: str, default: bool = False) -> bool:
    """Return ``$NAME`` as a boolean (1/true/yes/on, 0/false/no/off); raises on anything else."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return ``$NAME`` as an integer, at least ``minimum`` when given; raises on anything else."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return ``$NAME`` split on commas, blanks dropped (secrets allowed through ``_FILE``)."""
    raw = env_str(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    """Return ``$NAME`` as a float, at least ``minimum`` when given; raises on anything else."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, got {value}")
    return value


_RATE_PERIODS = {"s", "sec", "second", "m", "min", "minute", "h", "hour", "d", "day"}


def rate_check(name: str, value: str | None) -> str | None:
    """Validate a DRF throttle rate read with :func:`env_str` (``N/period``: ``120/min``, ``10/s``,
    ``1000/day``). Returns the rate, or None for ``none``/``off``/empty (no limit); raises
    :class:`ImproperlyConfigured` naming ``name`` on anything else."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in {"", "none", "off"}:
        return None
    count, _, period = lowered.partition("/")
    if not count.isdigit() or int(count) < 1 or period not in _RATE_PERIODS:
        raise ImproperlyConfigured(f"{name} must look like 120/min (periods: s, min, hour, day) or 'none', got {value!r}")
    return lowered
