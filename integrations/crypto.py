"""Encryption at rest for connector secrets: cryptography's MultiFernet (AES-128-CBC + HMAC-SHA256).

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (environment ``FIELD_ENCRYPTION_KEYS``, comma
separated). The first key encrypts; every key decrypts, so rotation is: prepend a new key, run
``manage.py credentials_rotate`` (re-encrypts every secret with the first key, the rotation
window's previous secrets included), drop the old key. Rotating a connector's *secret values*
(as opposed to these keys) is :mod:`integrations.rotation`.
"""

from __future__ import annotations

import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys") from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: dict) -> str:
    """Encrypt a JSON-serialisable dict; returns a Fernet token (str)."""
    return _current().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    """Decrypt a token from :func:`encrypt_json`. Raises :class:`SecretDecryptError`."""
    if not token:
        return {}
    try:
        return json.loads(_current().decrypt(token.encode()))
    except InvalidToken as exc:
        raise SecretDecryptError("secret cannot be decrypted with the configured keys") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt ``token`` under the first (primary) key."""
    return _current().rotate(token.encode()).decode() if token else token
