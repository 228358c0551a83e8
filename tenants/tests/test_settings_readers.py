"""One schema for tenant settings (issue 13 review, findings 8-10): the action policy and the Slack
options are read through ``tenants.settings_schema`` (bad stored values: defaults and a warning,
never a crash), ``tenant_create`` refuses invalid settings, and the admin form edits the document
with the schema's dotted-path helpers."""

from __future__ import annotations

import ipaddress
import logging
import uuid

import pytest
from django.core.exceptions import ValidationError

from actions.selectors import action_policy_get
from agents.slack_events import slack_feedback_record
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.services import tenant_create
from tenants.settings_schema import settings_apply, settings_path_get, tenant_settings_section_lenient
from tenants.tests.test_admin_settings import form_data, fresh, url


# --- finding 8: readers go through the schema ----------------------------------------------------


def test_action_policy_drops_only_what_does_not_validate_and_logs_it(caplog):
    tenant = Tenant(
        slug="bad-actions",
        settings={
            "actions": {
                "auto_approve": ["crm_update", "crm_updat"],  # one unknown kind
                "approver_roles": ["owner", "viewr"],  # one unknown role
                "approval_channel": "C" * 40,  # longer than a channel id
                "slack_users": {"Moses Frase": "UMOSES", "Ann": 7},  # one value not a string
                "outbound_allowlist": ["10.1.0.0/16", "10.1.0.0/166"],  # one malformed network
            }
        },
    )
    with caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        policy = action_policy_get(tenant=tenant)
    # A typo never widens the policy: the valid items stay, the bad ones go.
    assert policy.auto_approve == frozenset({"crm_update"})
    assert policy.approver_roles == frozenset({"owner"})
    assert policy.approval_channel == ""  # the schema's max_length is the rule, default applies
    assert policy.slack_users == {"Moses Frase": "UMOSES"}
    assert policy.outbound_allowlist == (ipaddress.ip_network("10.1.0.0/16"),)
    assert "bad-actions" in caplog.text and "actions.approval_channel" in caplog.text
    assert "actions.outbound_allowlist.1" in caplog.text and "actions.slack_users.Ann" in caplog.text


@pytest.mark.parametrize("stored", [{"actions": "all"}, {"actions": {"auto_approve": "yes"}}, {"actions": ["x"]}])
def test_a_malformed_actions_section_gives_the_schema_defaults(stored, caplog):
    with caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        policy = action_policy_get(tenant=Tenant(slug="broken", settings=stored))
    assert policy.auto_approve == frozenset({"slack_notify", "webhook"})
    assert policy.approver_roles == frozenset({"owner", "admin", "editor"})
    assert "ignoring invalid settings" in caplog.text


def test_null_lists_stored_earlier_mean_the_default():
    policy = action_policy_get(tenant=Tenant(slug="nulls", settings={"actions": {"auto_approve": None, "approver_roles": []}}))
    assert policy.auto_approve == frozenset({"slack_notify", "webhook"})
    assert policy.approver_roles == frozenset()  # an empty list means "nobody"


@pytest.mark.parametrize("slack", [["members_only"], "on"])
def test_a_malformed_slack_section_does_not_crash_the_members_only_check(world_a, slack, caplog):
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"slack": slack})
    tenant = fresh(world_a.tenant)
    with tenant_context(tenant), caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        # Before: a list or string section raised AttributeError; "yes" was read as true.
        outcome = slack_feedback_record(tenant=tenant, run_ref=str(uuid.uuid4()), slack_user="UOUTSIDER", value="up")
    assert outcome == "ignored: no such run"  # got past members_only: the default (off) applied
    assert "ignoring invalid settings slack" in caplog.text


def test_an_unreadable_members_only_value_keeps_the_restriction(world_a, caplog):
    """members_only is a restriction: a bad stored value ("yes") fails closed, never open."""
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"slack": {"members_only": "yes"}})
    tenant = fresh(world_a.tenant)
    with tenant_context(tenant), caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        outcome = slack_feedback_record(tenant=tenant, run_ref=str(uuid.uuid4()), slack_user="UOUTSIDER", value="up")
    assert outcome == "ignored: voter is not a member"
    assert "ignoring invalid settings slack" in caplog.text


def test_members_only_read_through_the_schema(world_a):
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"slack": {"members_only": True}})
    tenant = fresh(world_a.tenant)
    assert tenant_settings_section_lenient(tenant, "slack").members_only is True
    with tenant_context(tenant):
        outcome = slack_feedback_record(tenant=tenant, run_ref=str(uuid.uuid4()), slack_user="UOUTSIDER", value="up")
    assert outcome == "ignored: voter is not a member"


# --- finding 9: tenant_create validates the settings ---------------------------------------------


def test_tenant_create_refuses_invalid_settings_naming_the_field(db):
    with pytest.raises(ValidationError) as caught:
        tenant_create(slug="typo", name="Typo", settings={"actions": {"auto_approve": "yes"}, "llm_provder": "openai"})
    messages = caught.value.message_dict["settings"]
    assert any(m.startswith("actions.auto_approve: ") for m in messages), messages
    assert "llm_provder: unknown setting" in messages
    assert not Tenant.objects.filter(slug="typo").exists()


def test_tenant_create_reports_settings_with_the_other_field_errors(db):
    with pytest.raises(ValidationError) as caught:
        tenant_create(slug="bad slug!", name="X", time_zone="Mars/Olympus", settings={"budgets": {"max_tokens": "8"}})
    assert {"slug", "time_zone", "settings"} <= set(caught.value.message_dict)


def test_tenant_create_stores_valid_settings(db):
    tenant = tenant_create(slug="ok", name="Ok", settings={"budgets": {"max_tool_calls": 4}, "slack": {"members_only": True}})
    assert fresh(tenant).settings == {"budgets": {"max_tool_calls": 4}, "slack": {"members_only": True}}


# --- finding 10: one set of dotted-path helpers ---------------------------------------------------


def test_settings_apply_sets_unsets_and_leaves_the_input_alone():
    stored = {"budgets": {"max_tool_calls": 4}, "actions": 5}
    out = settings_apply(stored, changes={"actions.default_channel": "C1", "llm_provider": "bedrock"}, unset=("budgets.max_tool_calls",))
    assert out == {"actions": {"default_channel": "C1"}, "llm_provider": "bedrock"}  # emptied budgets dropped
    assert stored == {"budgets": {"max_tool_calls": 4}, "actions": 5}
    assert settings_path_get(out, "actions.default_channel") == (True, "C1")
    assert settings_path_get(out, "llm_provider.x") == (False, None)


def test_admin_form_saves_over_a_section_stored_as_a_non_object(client, world_a):
    # The admin's own path helpers crashed here (TypeError: 'int' object does not support item
    # assignment); the shared ones replace the broken value.
    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"budgets": 5})
    client.force_login(world_a.owner)
    response = client.post(url(world_a.tenant), form_data(fresh(world_a.tenant), budgets__max_tool_calls="4"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert fresh(world_a.tenant).settings == {"budgets": {"max_tool_calls": 4}}


# --- issue 9: the model refuses invalid settings; one parsed object for readers ------------------


@pytest.mark.parametrize(
    "settings, field",
    [({"llm_provider": "offlin"}, "llm_provider"), ({"actions": {"auto_approve": "yes"}}, "actions.auto_approve"), ({"llm_provder": "x"}, "llm_provder")],
)
def test_the_model_refuses_invalid_settings_on_save_and_full_clean(world_a, settings, field):
    tenant = fresh(world_a.tenant)
    tenant.settings = settings
    with pytest.raises(ValidationError) as caught:
        tenant.full_clean()
    assert any(m.startswith(f"{field}: ") for m in caught.value.message_dict["settings"]), caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        tenant.save()
    assert any(m.startswith(f"{field}: ") for m in caught.value.message_dict["settings"])
    assert fresh(world_a.tenant).settings == {}
    tenant.name = "Renamed"
    tenant.save(update_fields=["name"])  # a save that does not write settings is not blocked
    assert fresh(world_a.tenant).name == "Renamed" and fresh(world_a.tenant).settings == {}


def test_tenant_config_is_parsed_once_per_settings_value():
    from tenants.settings_schema import TenantSettings, tenant_config

    tenant = Tenant(slug="cfg", settings={"budgets": {"max_tool_calls": 4}})
    first = tenant_config(tenant)
    assert isinstance(first, TenantSettings) and first.budgets.max_tool_calls == 4
    assert tenant_config(tenant) is first  # cached on the instance
    tenant.settings["budgets"]["max_tool_calls"] = 5  # mutated in place: parsed again
    assert tenant_config(tenant).budgets.max_tool_calls == 5
    tenant.settings = {"llm_provider": "bedrock"}
    assert tenant_config(tenant).llm_provider == "bedrock" and tenant_config(tenant).budgets.max_tool_calls == 8


def test_a_stored_typo_is_read_as_the_default_with_a_warning_naming_it(world_a, caplog):
    from tenants.settings_schema import tenant_config

    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"llm_provider": "offlin", "budgets": {"max_tool_calls": 4}, "zz": 1})
    with caplog.at_level(logging.WARNING, logger="tenants.settings_schema"):
        config = tenant_config(fresh(world_a.tenant))
    assert config.llm_provider == "offline" and config.budgets.max_tool_calls == 4  # the valid part kept
    assert "ignoring invalid settings llm_provider" in caplog.text and "ignoring unknown settings zz" in caplog.text


def test_an_unreadable_pinned_as_of_date_is_refused_not_replaced_by_today(world_a):
    from tenants.settings_schema import TenantSettingsInvalid, tenant_config, tenant_settings_section

    Tenant.objects.filter(pk=world_a.tenant.pk).update(settings={"as_of_date": "2025-13-45", "budgets": {"max_tool_calls": 4}})
    tenant = fresh(world_a.tenant)
    with pytest.raises(TenantSettingsInvalid, match="as_of_date"):
        tenant_settings_section(tenant, "as_of_date")
    assert tenant_settings_section(tenant, "budgets").max_tool_calls == 4  # other settings still read
    assert tenant_config(tenant).as_of_date is None
