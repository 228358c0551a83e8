"""Answer layouts (templates/answers/*.md, rendered by agents.playbooks.render.render_answer): the
shared pieces render exactly the Markdown the runtime and the Slack/HTML renderers expect. The
playbooks' full answers are pinned by the evaluation sets and the answer tests; these pin the
layout pieces whose exact text other code or users rely on (tables, action reports, citations)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from agents.playbooks.render import render_answer

LAYOUTS = sorted(p.stem for p in (Path(settings.BASE_DIR) / "templates" / "answers").glob("*.md") if p.stem != "README")


def test_table_escapes_pipes_in_cells_and_keeps_headers_and_separator():
    # The include is used through a layout; competitor_mentions has the simplest table.
    text = render_answer(
        "competitor_mentions",
        {"accounts": 2, "notes": "3", "citation": 4, "rules_ref": 1, "table": [["A|B Corp", 2], ["C", 1]], "rest": []},
    )
    assert text == (
        "### Accounts that mentioned competitors in call notes\n\n"
        "**2 accounts** have call notes mentioning a competitor, in 3 notes [4] (names and phrases from the competitor list [1]).\n\n"
        "| Account | Notes |\n| --- | --- |\n| A\\|B Corp | 2 |\n| C | 1 |"
    )


def test_actions_report_lists_ids_approval_route_preview_and_notes():
    proposed = {"id": 7, "kind": "CRM update", "target": "Opportunity 006X", "state": "proposed", "status": "proposed", "error": "",
                "in_slack": True, "preview": ["Set StageName → 'Closed Won'", "", "on Opportunity 006X"]}
    done = {"id": 8, "kind": "Slack notification", "target": "#deals", "state": "done", "status": "succeeded", "error": "", "in_slack": True, "preview": []}
    failed = {"id": 9, "kind": "webhook", "target": "https://h.example", "state": "other", "status": "failed", "error": "HTTP 500", "in_slack": False, "preview": []}
    text = render_answer("actions", {"actions": [proposed, done, failed], "previews": [proposed], "notes": ["Say which field."]})
    assert text == (
        "### Actions\n\n"
        "- **Action 7** · CRM update → Opportunity 006X: *awaiting approval* (the tenant's policy holds this kind for a human). "
        "Nothing has been changed yet; approve or reject it with the Approve / Reject buttons in Slack, or with "
        "`POST /api/v1/actions/7/approve` (or `/reject`).\n"
        "- **Action 8** · Slack notification → #deals: *done*.\n"
        "- **Action 9** · webhook → https://h.example: *failed*: HTTP 500\n\n"
        "Preview of action 7:\n\n> Set StageName → 'Closed Won'\n>\n> on Opportunity 006X\n\n"
        "- Say which field."
    )


def test_actions_report_says_when_nothing_was_recorded():
    assert render_answer("actions", {"actions": [], "previews": [], "notes": []}) == "### Actions\n\n- No action was recorded."


def test_interpreted_as_line_names_unused_words_and_notes():
    interpreted = {"description": "win rate · by sector · all time", "unused": ["please", "kindly"], "notes": ["'q3' = 2024-07-01 to 2024-09-30."]}
    assert render_answer("_interpreted_as", {"interpreted": interpreted}) == (
        "**Interpreted as:** win rate · by sector · all time. Words not used: “please”, “kindly”. 'q3' = 2024-07-01 to 2024-09-30."
    )


@pytest.mark.parametrize("name", LAYOUTS)
def test_every_layout_renders_without_a_context_error(name):
    # Missing values render empty (Django's default), never raise: a layout cannot crash an answer.
    assert isinstance(render_answer(name, {}), str)
