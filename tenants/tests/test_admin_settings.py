"""Tenant settings in the admin: a validated form built from the pydantic schema, owners and
admins of the tenant only (others 404), the same validation in the commands that write them;
the RevOps AI branding."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tenants.admin import TenantForm
from tenants.models import Tenant
from tenants.settings_schema import (
    ACTION_KINDS,
    ActionSettings,
    TenantSettingsInvalid,
    tenant_settings_section,
    tenant_settings_validate,
)


def form_data(tenant: Tenant, **overrides) -> dict:
    """What the admin page posts when the user changes nothing, with ``overrides``."""
    form = TenantForm(instance=tenant)
    data: dict = {"name": tenant.name, "time_zone": tenant.time_zone}
    for name, field in form.fields.items():
        if name in ("slug", "name", "time_zone"):
            continue
        value = field.initial
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        if isinstance(value, dict):
            value = "\n".join(f"{k} = {v}" for k, v in value.items())
        elif isinstance(value, list) and name not in ("actions__auto_approve", "actions__approver_roles"):
            value = "\n".join(value)
        data[name] = "" if value is None else value
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not _DROP}


_DROP = object()


def url(tenant: Tenant) -> str:
    return f"/admin/tenants/tenant/{tenant.pk}/change/"


def fresh(tenant: Tenant) -> Tenant:
    return Tenant.objects.get(pk=tenant.pk)


def test_owner_saves_settings_through_the_form_only_changed_keys_stored(client, world_a):
    client.force_login(world_a.owner)
    page = client.get(url(world_a.tenant))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Budgets per run" in html and "Actions policy" in html and 'name="llm_provider"' in html
    response = client.post(
        url(world_a.tenant),
        form_data(
            world_a.tenant,
            as_of_date="2025-06-30",
            llm_provider="offline",
            budgets__max_tool_calls="4",
            actions__auto_approve=["webhook"],
            actions__outbound_allowlist="10.1.0.0/16\n",
            actions__slack_users="Moses Frase = UMOSES",
            slack__members_only="on",
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    stored = fresh(world_a.tenant).settings
    assert stored == {
        "as_of_date": "2025-06-30",
        "budgets": {"max_tool_calls": 4},
        "actions": {"auto_approve": ["webhook"], "outbound_allowlist": ["10.1.0.0/16"], "slack_users": {"Moses Frase": "UMOSES"}},
        "slack": {"members_only": True},
    }
    # The readers see the parsed values.
    assert tenant_settings_section(fresh(world_a.tenant), "as_of_date") == dt.date(2025, 6, 30)
    from actions.selectors import action_policy_get
    from agents.runtime.loop import Budgets

    assert Budgets.from_tenant(fresh(world_a.tenant)).max_tool_calls == 4
    assert action_policy_get(tenant=fresh(world_a.tenant)).auto_approve == frozenset({"webhook"})


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("llm_provider", "offlin", "offlin is not one of the available choices"),
        ("actions__auto_approve", "yes", "yes is not one of the available choices"),
        ("budgets__max_tool_calls", "0", "greater than or equal to 1"),
        ("actions__outbound_allowlist", "not-a-network", "is not a network"),
        ("as_of_date", "2025-13-01", "valid date"),
    ],
)
def test_a_typo_is_refused_on_its_field_and_nothing_is_saved(client, world_a, field, value, message):
    before = fresh(world_a.tenant).settings
    client.force_login(world_a.owner)
    response = client.post(url(world_a.tenant), form_data(world_a.tenant, **{field: value}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field] and message in " ".join(errors[field]), errors
    assert "Please correct the error below" in response.content.decode()
    assert fresh(world_a.tenant).settings == before


def test_a_broken_stored_setting_is_shown_on_its_field(client, world_a):
    # Written by hand before the form existed: the schema error lands on the field it concerns.
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"slack": {"members_only": "yes"}, "llm_provder": "openai"})
    client.force_login(world_a.owner)
    response = client.post(url(world_a.tenant), form_data(fresh(world_a.tenant), slack__members_only=_DROP))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "llm_provder: unknown setting" in " ".join(errors["__all__"])
    assert fresh(world_a.tenant).settings == {"slack": {"members_only": "yes"}, "llm_provder": "openai"}  # nothing saved


def test_only_owners_and_admins_of_the_tenant_reach_its_page(client, world_a, world_b):
    for user in (world_b.owner, world_a.editor, world_a.viewer):
        client.force_login(user)
        assert client.get(url(world_a.tenant)).status_code == 404
        assert client.post(url(world_a.tenant), form_data(world_a.tenant, llm_provider="bedrock")).status_code == 404
    assert fresh(world_a.tenant).settings == {}
    client.force_login(world_b.owner)
    listing = client.get("/admin/tenants/tenant/").content.decode()
    assert url(world_b.tenant) in listing and url(world_a.tenant) not in listing
    assert client.get("/admin/tenants/tenant/add/").status_code == 403


def test_schema_messages_name_the_field():
    with pytest.raises(TenantSettingsInvalid) as caught:
        tenant_settings_validate({"llm_provider": "offlin", "actions": {"auto_approve": "yes"}, "slack": {"members_only": "yes"}})
    assert set(caught.value.errors) == {"llm_provider", "actions.auto_approve", "slack.members_only"}
    assert "'offlin'" in str(caught.value)
    with pytest.raises(TenantSettingsInvalid, match="budgets.max_tokens"):
        tenant_settings_validate({"budgets": {"max_tokens": "8"}})  # strict: a string is not a number


def test_schema_agrees_with_the_actions_app():
    from actions.models import ActionKind
    from actions.selectors import action_policy_get
    from tenants.models import ROLES_THAT_EDIT

    assert set(ACTION_KINDS) == set(ActionKind.values)
    # The policy of a tenant without settings is the schema's defaults, which are what the
    # actions app documents (slack_notify and webhook run alone; owners, admins, editors approve).
    policy = action_policy_get(tenant=Tenant(slug="none", settings={}))
    defaults = ActionSettings()
    assert policy.auto_approve == set(defaults.auto_approve) == {ActionKind.SLACK_NOTIFY.value, ActionKind.WEBHOOK.value}
    assert policy.approver_roles == set(defaults.approver_roles) == {str(r) for r in ROLES_THAT_EDIT}


def test_tenant_settings_command_validates_and_names_the_field(world_a):
    with pytest.raises(CommandError, match="llm_provider"):
        call_command("tenant_settings", "--tenant", "acme-a", "--set", "llm_provider=offlin", stdout=StringIO())
    with pytest.raises(CommandError, match="actions.auto_approve"):
        call_command("tenant_settings", "--tenant", "acme-a", "--set", "actions.auto_approve=yes", stdout=StringIO())
    assert fresh(world_a.tenant).settings == {}
    out = StringIO()
    call_command("tenant_settings", "--tenant", "acme-a", "--set", "budgets.max_tool_calls=4", "--set", 'actions.auto_approve=["webhook"]', stdout=out)
    assert fresh(world_a.tenant).settings == {"budgets": {"max_tool_calls": 4}, "actions": {"auto_approve": ["webhook"]}}
    call_command("tenant_settings", "--tenant", "acme-a", "--unset", "budgets.max_tool_calls", stdout=StringIO())
    assert fresh(world_a.tenant).settings == {"actions": {"auto_approve": ["webhook"]}}


def test_llm_configure_refuses_to_save_over_a_broken_setting(world_a):
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"budgets": {"max_tool_calls": "lots"}})
    with pytest.raises(CommandError, match="budgets.max_tool_calls"):
        call_command("llm_configure", "--tenant", "acme-a", "--provider", "offline", stdout=StringIO())


def test_admin_is_branded(client, world_a):
    client.force_login(world_a.owner)
    index = client.get("/admin/").content.decode()
    assert "| RevOps AI</title>" in index and '<div id="site-name"><a href="/admin/">RevOps AI</a>' in index
    assert "Django administration" not in index
