"""Answers as Block Kit: structure, Slack's limits, tables, sources, and splitting long answers.

Limits are checked twice: by our own assertions and by slack-sdk's block models
(``blocks_problem``, the check the local fake Slack applies before accepting a message).
"""

from __future__ import annotations

import json

from integrations.slack.blocks import (
    FEEDBACK_DOWN_ACTION_ID,
    FEEDBACK_UP_ACTION_ID,
    MAX_BLOCKS,
    MESSAGE_CHARS,
    SECTION_CHARS,
    answer_messages,
    progress_message,
    table_blocks,
)
from integrations.tests.fake_slack import blocks_problem

RUN = "0b5f3c1e-7d4a-4c59-9a57-1f0e3c6d2a10"

DEAL_ANSWER = """### The Dry Numbers

| Field | Value |
|---|---|
| Deal | Acme renewal |
| Stage | Negotiate (75%) |
| Amount | $120,000 |

### Bottom Line

The deal is **on track** but single-threaded [1]. Watch <!channel> & the paper process.

_Answered offline. As of 2025-06-30._

#### Sources

[1] warehouse query: deal facts (1 rows; SQL in run step 3)
[2] knowledge base: Deal stages v2 › Negotiate
"""


def _sections(blocks: list[dict]) -> list[dict]:
    return [b for b in blocks if b["type"] == "section"]


def _all_text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_answer_has_header_sections_context_and_feedback_buttons():
    [message] = answer_messages(title="What is the status of the Acme deal?", markdown=DEAL_ANSWER, run_ref=RUN, run_url="https://revops.example.com/admin/agents/run/7/change/")
    blocks = message.blocks
    assert blocks_problem(blocks) == ""
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context", "actions"]
    assert blocks[0]["text"] == {"type": "plain_text", "text": "What is the status of the Acme deal?", "emoji": True}
    # The heading and its key/value table read as one block: the heading, then aligned fields.
    dry = blocks[1]
    assert dry["text"]["text"] == "*The Dry Numbers*"
    assert [f["text"] for f in dry["fields"]] == ["*Field*", "*Value*", "Deal", "Acme renewal", "Stage", "Negotiate (75%)", "Amount", "$120,000"]
    bottom = blocks[2]["text"]["text"]
    assert bottom.startswith("*Bottom Line*") and "*on track*" in bottom
    assert "&lt;!channel&gt; &amp; the paper" in bottom  # no pings smuggled through the answer
    assert "_Answered offline. As of 2025-06-30._" in bottom
    assert "Sources" not in _all_text(blocks[1:3])  # the sources moved to the context line
    sources, run_link = blocks[3]["elements"]
    assert sources["text"].splitlines() == [
        "*Sources*",
        "[1] warehouse query: deal facts (1 rows; SQL in run step 3)",
        "[2] knowledge base: Deal stages v2 › Negotiate",
    ]
    assert run_link["text"] == f"<https://revops.example.com/admin/agents/run/7/change/|Run {RUN}>"
    buttons = blocks[4]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [(FEEDBACK_UP_ACTION_ID, RUN), (FEEDBACK_DOWN_ACTION_ID, RUN)]
    assert [b["text"]["text"][0] for b in buttons] == ["👍", "👎"]
    # The fallback text carries the answer itself (notifications, clients without blocks).
    assert "Acme renewal" in message.text and "$120,000" in message.text and len(message.text) <= 3000


def test_run_id_without_a_public_url_is_shown_not_linked():
    [message] = answer_messages(title="q", markdown="Forty-two.", run_ref=RUN, note="failed")
    context = message.blocks[-2]
    assert context["type"] == "context"
    assert context["elements"] == [{"type": "mrkdwn", "text": f"Run `{RUN}` · failed"}]


def test_header_is_cut_at_a_word_within_150_characters():
    title = "how " + "much pipeline did the enterprise segment create " * 10
    [message] = answer_messages(title=title, markdown="An answer.", run_ref=RUN)
    header = message.blocks[0]["text"]["text"]
    assert len(header) <= 150 and header.endswith("…") and not header.endswith(" …")
    assert blocks_problem(message.blocks) == ""


def test_narrow_table_is_an_aligned_code_block():
    [block] = table_blocks("| Rep | Won | Rate |", "|---|--:|--:|", ["| Moses Frase | 12 | 63% |", "| Ana Li | 7 | 41% |"])
    text = block["text"]["text"]
    lines = text.splitlines()
    assert lines[0] == lines[-1] == "```"
    assert lines[1:] [:3] == ["Rep         | Won | Rate", "------------+-----+-----", "Moses Frase |  12 |  63%"]
    assert max(len(line) for line in lines) <= 60


def test_wide_table_is_a_compact_list_not_a_130_column_code_block():
    header = "| Account | Industry | Region | Open pipeline | Won this quarter | Last activity |"
    rows = [f"| Account {i} Holdings | Manufacturing | North America East | ${i},500,000 | ${i}20,000 | 2025-06-{i + 10} |" for i in range(1, 4)]
    [block] = table_blocks(header, "|---|---|---|--:|--:|---|", rows)
    text = block["text"]["text"]
    assert "```" not in text
    assert text.splitlines()[0] == (
        "• *Account 1 Holdings* — Industry: Manufacturing · Region: North America East · Open pipeline: $1,500,000"
        " · Won this quarter: $120,000 · Last activity: 2025-06-11"
    )
    assert len(text.splitlines()) == 3


def test_long_two_column_table_uses_at_most_ten_fields_per_section():
    rows = [f"| Rep {i} | ${i},000 |" for i in range(12)]
    blocks = table_blocks("| Rep | Won |", "|---|--:|", rows)
    assert [len(b["fields"]) for b in blocks] == [10, 10, 6]
    assert blocks_problem(blocks) == ""


def test_a_table_inside_a_code_fence_stays_code():
    markdown = "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"
    [message] = answer_messages(title="q", markdown=markdown, run_ref=RUN)
    [section] = _sections(message.blocks)
    assert section["text"]["text"] == "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"


def test_too_long_answer_is_split_on_paragraph_boundaries_into_valid_messages():
    paragraphs = [f"### Account {i}\n\n" + f"Paragraph {i} " + "with words that go on " * 60 + f"END{i}." for i in range(40)]
    markdown = "\n\n".join(paragraphs) + "\n\n#### Sources\n\n[1] warehouse query: accounts (40 rows; SQL in run step 2)"
    assert len(markdown) > 3 * MESSAGE_CHARS
    messages = answer_messages(title="Tell me about every account", markdown=markdown, run_ref=RUN)
    assert len(messages) > 1
    for message in messages:
        assert blocks_problem(message.blocks) == ""
        assert len(message.blocks) <= MAX_BLOCKS
        sections = _sections(message.blocks)
        assert all(len(s["text"]["text"]) <= SECTION_CHARS for s in sections)
        assert sum(len(s["text"]["text"]) for s in sections) <= MESSAGE_CHARS
        assert len(message.text) <= 3000
    # The header opens the first message only; the context line and buttons close the last only.
    assert messages[0].blocks[0]["type"] == "header"
    assert all(b["type"] != "header" for m in messages[1:] for b in m.blocks)
    assert [b["type"] for b in messages[-1].blocks[-2:]] == ["context", "actions"]
    assert all(b["type"] not in ("context", "actions") for m in messages[:-1] for b in m.blocks)
    # Nothing lost, nothing reordered, and every paragraph is whole in one section.
    texts = [s["text"]["text"] for m in messages for s in _sections(m.blocks)]
    joined = "\n\n".join(texts)
    assert [joined.index(f"END{i}.") for i in range(40)] == sorted(joined.index(f"END{i}.") for i in range(40))
    for i in range(40):
        [holder] = [t for t in texts if f"Paragraph {i} " in t]
        assert f"END{i}." in holder


def test_a_single_paragraph_longer_than_a_section_is_cut_at_words():
    markdown = "word " * 1500  # 7,500 characters, no blank line
    [message] = answer_messages(title="q", markdown=markdown, run_ref=RUN)
    sections = _sections(message.blocks)
    assert len(sections) == 3
    assert all(len(s["text"]["text"]) <= SECTION_CHARS for s in sections)
    assert all(s["text"]["text"].startswith("word") and s["text"]["text"].endswith("word") for s in sections)
    assert blocks_problem(message.blocks) == ""


def test_answer_of_many_short_paragraphs_stays_under_fifty_blocks_per_message():
    markdown = "\n\n".join(f"### Point {i}\n\nShort." for i in range(120))
    messages = answer_messages(title="q", markdown=markdown, run_ref=RUN)
    assert len(messages) >= 3
    assert all(len(m.blocks) <= MAX_BLOCKS and blocks_problem(m.blocks) == "" for m in messages)


def test_progress_message_marks_finished_specialists():
    message = progress_message(run_ref=RUN, planned=["deal_analysis", "execution"], done=["deal_analysis"])
    assert message.text == f"Working on it… (run {RUN}): 1 of 2 specialists finished"
    assert blocks_problem(message.blocks) == ""
    assert message.blocks[1]["elements"][0]["text"] == "✅ Deal analysis · ⏳ Execution"
