"""A cron expression whose fields are valid but never match a date (31 February) is refused on the
field, not a 500 at save, and no schedule row is left behind."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django_q.models import Schedule

from agents.models import AnalysisSchedule
from agents.scheduled.services import ScheduleInvalid, cron_check
from integrations.services import credential_set
from tenants.models import Membership


@pytest.mark.parametrize("expression", ["0 0 31 2 *", "0 0 30 2 *", "0 8 31 4 *"])
def test_a_cron_that_never_fires_is_invalid(expression):
    with pytest.raises(ScheduleInvalid, match="never matches a date"):
        cron_check(expression)


def test_leap_day_is_valid():
    assert cron_check("0  0 29 2 *") == "0 0 29 2 *"


def test_the_admin_refuses_it_on_the_field(client, world_a):
    tenant = world_a.tenant
    credential_set(tenant=tenant, kind="slack", config={"team_id": "T0", "bot_user_id": "U0"}, secrets={"signing_secret": "s" * 32, "bot_token": "xoxb-t"})
    user = get_user_model().objects.create_user("cron-editor", password="x", is_staff=True)
    Membership.objects.create(user=user, tenant=tenant, role="editor")
    client.force_login(user)
    form = {
        "tenant": tenant.pk, "name": "Never", "enabled": "on", "cadence": "cron", "cron": "0 0 31 2 *", "time_of_day": "",
        "weekday": "", "time_zone": "Europe/Paris", "analysis": "daily_brief", "question": "", "slack_channel": "C0",
        "webhook_endpoint": "", "_save": "Save",
    }
    page = client.post("/admin/agents/analysisschedule/add/", form)
    assert page.status_code == 200 and b"never matches a date" in page.content
    assert not AnalysisSchedule.objects.for_tenant(tenant).exists()
    assert not Schedule.objects.filter(name__startswith="analysis-schedule-").exists()
