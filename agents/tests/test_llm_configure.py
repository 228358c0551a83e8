from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from agents.llm.providers import provider_for_tenant
from agents.llm.openai_compat import OpenAICompatProvider
from tenants.models import Tenant


def test_switch_provider_without_code_change(world_a, tmp_path):
    key = tmp_path / "key"
    key.write_text("sk-local-123\n")
    call_command("llm_configure", "--tenant", "acme-a", "--provider", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m1", "--api-key-file", str(key), stdout=StringIO())
    provider = provider_for_tenant(Tenant.objects.get(slug="acme-a"))
    assert isinstance(provider, OpenAICompatProvider) and provider.model == "m1"
    call_command("llm_configure", "--tenant", "acme-a", "--provider", "offline", stdout=StringIO())
    assert provider_for_tenant(Tenant.objects.get(slug="acme-a")).is_offline


def test_openai_needs_a_model(world_a):
    with pytest.raises(CommandError, match="--model"):
        call_command("llm_configure", "--tenant", "acme-a", "--provider", "openai", stdout=StringIO())


def test_bad_budget_setting_is_refused_on_save_and_read_as_the_default(world_a, caplog):
    # One policy (tenants.settings_schema): writes are refused naming the field; a value that
    # got around them is read as its default with a warning naming the field.
    import logging

    from django.core.exceptions import ValidationError

    from agents.runtime.loop import Budgets

    world_a.tenant.settings = {"budgets": {"max_tool_calls": "lots"}}
    with pytest.raises(ValidationError, match="budgets.max_tool_calls"):
        world_a.tenant.save()
    with caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        assert Budgets.from_tenant(world_a.tenant).max_tool_calls == 8
    assert "budgets.max_tool_calls" in caplog.text
    world_a.tenant.settings = {"budgets": {"max_tool_calls": 4}}
    assert Budgets.from_tenant(world_a.tenant).max_tool_calls == 4
