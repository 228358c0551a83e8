"""Tenants: the fail-closed scoped manager, API keys, and the two commands."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.models import Run
from tenants.context import TenantNotSet, tenant_context
from tenants.models import ApiKey, Tenant
from tenants.services import ApiKeyInvalid, apikey_authenticate, apikey_create


def test_scoped_manager_fails_closed_without_a_tenant(world_a):
    with pytest.raises(TenantNotSet):
        list(Run.objects.all())


def test_scoped_manager_sees_only_the_current_tenant(world_a, world_b):
    Run.objects.unscoped().create(tenant=world_a.tenant, channel="api", query="a", as_of="2025-01-01")
    Run.objects.unscoped().create(tenant=world_b.tenant, channel="api", query="b", as_of="2025-01-01")
    with tenant_context(world_a.tenant):
        assert list(Run.objects.values_list("query", flat=True)) == ["a"]
    with tenant_context(world_b.tenant):
        assert list(Run.objects.values_list("query", flat=True)) == ["b"]
    assert Run.objects.unscoped().count() == 2


def test_api_key_is_stored_hashed_and_verified(world_a):
    row, key = apikey_create(tenant=world_a.tenant, name="ci")
    assert key.startswith(f"rk_{row.prefix}_")
    assert key.split("_", 2)[2] not in row.key_hash
    assert apikey_authenticate(raw_key=key).tenant == world_a.tenant
    with pytest.raises(ApiKeyInvalid):
        apikey_authenticate(raw_key=key[:-1] + ("A" if key[-1] != "A" else "B"))
    with pytest.raises(ApiKeyInvalid):
        apikey_authenticate(raw_key="garbage")


def test_revoked_key_is_refused(world_a):
    row, key = apikey_create(tenant=world_a.tenant)
    ApiKey.objects.unscoped().filter(pk=row.pk).update(revoked_at="2025-01-01T00:00:00Z")
    with pytest.raises(ApiKeyInvalid):
        apikey_authenticate(raw_key=key)


def test_tenant_create_and_apikey_create_commands(db):
    out = StringIO()
    call_command("tenant_create", "initech", "--name", "Initech", "--time-zone", "Europe/Paris", stdout=out)
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.time_zone == "Europe/Paris"
    out = StringIO()
    call_command("apikey_create", "--tenant", "initech", "--name", "zapier", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    assert apikey_authenticate(raw_key=key).tenant == tenant


def test_commands_refuse_bad_input(db):
    with pytest.raises(CommandError, match="time_zone"):
        call_command("tenant_create", "x1", "--name", "X", "--time-zone", "Mars/Olympus", stdout=StringIO())
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("apikey_create", "--tenant", "nope", stdout=StringIO())
