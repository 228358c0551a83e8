"""The run admin: a readable timeline, scoped to the user's tenants."""

from agents.tests.runs import ask


def test_run_timeline_visible_to_member_and_404_for_outsider(client, demo, world_b):
    from django.contrib.auth import get_user_model

    from tenants.models import Membership

    run = ask(demo.tenant, "What is the win rate by regional office?")
    member = get_user_model().objects.create_user("demo-editor", password="x", is_staff=True)
    Membership.objects.create(user=member, tenant=demo.tenant, role="editor")
    client.force_login(member)
    page = client.get(f"/admin/agents/run/{run.pk}/change/")
    assert page.status_code == 200
    assert b"warehouse_sql" in page.content and b"regional_office" in page.content
    # How the question was read: answered, the metric and the breakdown.
    assert b"Interpreted as" in page.content and b"answered" in page.content and b"win_rate" in page.content
    client.force_login(world_b.editor)
    assert client.get(f"/admin/agents/run/{run.pk}/change/").status_code == 404
    listing = client.get("/admin/agents/run/")
    assert str(run.tracking_id).encode() not in listing.content
