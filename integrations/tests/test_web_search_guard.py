"""The runtime web search client applies the outbound guard to its configured base URL."""

from __future__ import annotations

import pytest

from integrations.services import credential_set
from integrations.web_search.client import WebSearchUnavailable, web_search
from tenants.context import tenant_context


@pytest.mark.django_db
@pytest.mark.parametrize("base_url", ["https://10.0.0.1/res/v1/", "https://127.0.0.1:9/res/v1/", "https://[::ffff:169.254.169.254]/"])
def test_an_internal_base_url_is_refused_before_any_request(world_a, base_url):
    credential_set(tenant=world_a.tenant, kind="web_search", config={"base_url": base_url}, secrets={"api_key": "brave-key-123456"})
    with tenant_context(world_a.tenant), pytest.raises(WebSearchUnavailable, match="web search URL refused: .*non-public address"):
        web_search(query="acme")
