"""The run page in the admin reads as a report: rendered (sanitised) answer, interpretation,
sources as a list, grounding as a sentence, the step timeline; no raw JSON; others' runs 404."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.admin import grounding_sentence
from agents.models import Run
from agents.services import run_create
from agents.tests.runs import ask
from tenants.models import Membership


@pytest.fixture
def demo_member(demo):
    user = get_user_model().objects.create_user("demo-viewer", password="x", is_staff=True)
    Membership.objects.create(user=user, tenant=demo.tenant, role="viewer")
    return user


def test_run_page_shows_the_rendered_answer_and_no_raw_json(client, demo, demo_member, world_b):
    run = ask(demo.tenant, "What is the win rate by regional office?")
    assert run.status == "succeeded" and run.grounding.get("checked")
    client.force_login(demo_member)
    html = client.get(f"/admin/agents/run/{run.pk}/change/").content.decode()
    # The markdown answer is HTML: its table and its emphasis, not pipes and asterisks.
    answer = html[html.index("revops-answer"):]
    assert "<table>" in answer and "<th>Regional office</th>" in answer and "| --- |" not in html
    # Interpreted as, sources as a list, grounding as a sentence, the timeline.
    assert "Interpreted as" in html and "win_rate" in html
    assert "<ol" in html and "Knowledge base: Warehouse semantic model" in html and "3 rows, step" in html
    checked = run.grounding["checked"]
    assert f"{checked} of {checked} figures traced to query results." in html
    assert "warehouse_sql" in html and "Timeline" in html
    # No JSON dumps of the run's structured fields.
    for raw in ('"checked"', '"input_tokens"', '"semantic_query"', "{&quot;", '"type": "sql"', "&quot;ref&quot;"):
        assert raw not in html, raw
    # Another tenant's member, and an unknown id: 404.
    client.force_login(world_b.editor)
    assert client.get(f"/admin/agents/run/{run.pk}/change/").status_code == 404
    client.force_login(demo_member)
    assert client.get("/admin/agents/run/999999/change/").status_code == 404


def test_answer_html_is_sanitised(client, demo, demo_member):
    run = run_create(tenant=demo.tenant, channel="cli", query="hello", enqueue=False)
    Run.objects.unscoped().filter(pk=run.pk).update(
        answer_markdown="### Bottom Line\n\n**Fine** <script>alert(1)</script> [click](javascript:alert(2)) <img src=x onerror=alert(3)>",
        grounding={"checked": 3, "unmatched": ["$9,999"]},
    )
    client.force_login(demo_member)
    html = client.get(f"/admin/agents/run/{run.pk}/change/").content.decode()
    answer = html[html.index("revops-answer"):html.index("revops-answer") + 2000]
    assert "<h3>Bottom Line</h3>" in answer and "<strong>Fine</strong>" in answer
    # Raw HTML is shown as text, never as tags; javascript: is never a link.
    assert "&lt;script&gt;alert(1)" in answer and "<script>alert" not in html
    assert "<img" not in answer and 'href="javascript' not in html
    assert "2 of 3 figures traced to query results. Not traced: $9,999." in html


def test_grounding_sentence():
    assert grounding_sentence({"checked": 12, "unmatched": []}) == "12 of 12 figures traced to query results."
    assert grounding_sentence({"checked": 1}) == "1 of 1 figure traced to query results."
    assert grounding_sentence({"checked": 0}) == "No figures in the answer to trace."
    assert grounding_sentence({}) == "Not checked."
    many = grounding_sentence({"checked": 8, "unmatched": [str(i) for i in range(7)]})
    assert many == "1 of 8 figures traced to query results. Not traced: 0, 1, 2, 3, 4 and 2 more."
