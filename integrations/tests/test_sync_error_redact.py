"""A sync state's last error is shown to every member in the admin: a provider message that echoes
a connector secret is stored masked, like the connector's own last error."""

from __future__ import annotations

from integrations.models import ConnectorKind, SyncSource, SyncState
from integrations.salesforce.sync import sync_state_fail
from integrations.services import credential_set

SECRET = "refresh-token-of-tenant-a-5ec12e7"


def test_a_secret_echoed_in_a_sync_error_is_masked(world_a, world_b):
    credential_set(tenant=world_a.tenant, kind=ConnectorKind.SALESFORCE, config={"instance_url": "https://a.example"}, secrets={"refresh_token": SECRET})
    state = SyncState.objects.for_tenant(world_a.tenant).create(tenant=world_a.tenant, source=SyncSource.SALESFORCE, stream="Account")
    sync_state_fail(state, f"invalid_grant: token {SECRET} expired")
    state.refresh_from_db()
    assert SECRET not in state.last_error and "[secret]" in state.last_error and "invalid_grant" in state.last_error
    # Another tenant's secrets are not consulted (nor needed): its state keeps its own text.
    other = SyncState.objects.for_tenant(world_b.tenant).create(tenant=world_b.tenant, source=SyncSource.GONG, stream="calls")
    sync_state_fail(other, "HTTP 429 from Gong")
    other.refresh_from_db()
    assert other.last_error == "HTTP 429 from Gong"
