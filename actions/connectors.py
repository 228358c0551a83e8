"""Which connector an action kind needs, and whether the tenant has it.

An approved ``crm_update`` for a tenant without a Salesforce connector can only fail; the admin
refuses to approve it and says why (and the agent can use the same check before proposing).
"""

from __future__ import annotations

from actions.insights import InsightsUnavailable, insights_table_get
from actions.models import ActionKind
from integrations.salesforce.selectors import SalesforceNotConfigured, salesforce_connection_get
from integrations.slack.selectors import slack_app_get
from tenants.context import tenant_context
from tenants.models import Tenant

def action_connector_missing(*, tenant: Tenant, kind: str) -> str:
    """Why ``tenant`` cannot run an action of ``kind`` for want of a connector, or ``""`` when
    the connector it needs is configured (or it needs none).

    Only the configuration is checked (credential present, required keys, secrets decrypt), not
    that the remote system answers: "Test connection" on the connector does that. Unknown kinds
    return ``""`` (``action_create`` refuses them anyway).
    """
    with tenant_context(tenant):
        if kind == ActionKind.CRM_UPDATE:
            try:
                salesforce_connection_get()
            except SalesforceNotConfigured as exc:
                return f"{exc}; add a Salesforce connector first"
        elif kind == ActionKind.SLACK_NOTIFY:
            app = slack_app_get()
            if app is None or not app.bot_token:
                return "the tenant has no Slack app with a bot token; add the Slack connector first"
        elif kind == ActionKind.WAREHOUSE_WRITE:
            try:
                insights_table_get()
            except InsightsUnavailable as exc:
                return f"{exc}; run insights_setup first"
    return ""
