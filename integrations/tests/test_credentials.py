"""Connector secrets are encrypted at rest (Fernet) and survive key rotation."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorCredential
from integrations.services import credential_set, credentials_rotate


def _raw_token(pk: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT secret_token FROM integrations_connectorcredential WHERE id = %s", [pk])
        return cur.fetchone()[0]


def test_secret_is_encrypted_at_rest(world_a):
    row = credential_set(tenant=world_a.tenant, kind="slack", config={"team_id": "T1"}, secrets={"bot_token": "xoxb-super-secret-1234"})
    raw = _raw_token(row.pk)
    assert "xoxb" not in raw and "super-secret" not in raw
    assert ConnectorCredential.objects.unscoped().get(pk=row.pk).secrets() == {"bot_token": "xoxb-super-secret-1234"}
    assert "xoxb" not in repr(row) and "xoxb" not in str(row)


def test_rotation_re_encrypts_under_the_new_key(world_a, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    row = credential_set(tenant=world_a.tenant, kind="warehouse_postgres", secrets={"password": "pw-123"})
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    assert credentials_rotate() == 1
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert ConnectorCredential.objects.unscoped().get(pk=row.pk).secrets() == {"password": "pw-123"}


def test_wrong_key_gives_a_clear_error(world_a, settings):
    row = credential_set(tenant=world_a.tenant, kind="slack", secrets={"bot_token": "x"})
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(SecretDecryptError):
        ConnectorCredential.objects.unscoped().get(pk=row.pk).secrets()
