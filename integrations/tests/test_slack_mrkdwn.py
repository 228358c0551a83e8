"""Markdown -> Slack mrkdwn conversion and message splitting (pure functions)."""

from __future__ import annotations

import pytest

from integrations.slack.mrkdwn import markdown_to_mrkdwn, split_message

DEAL_ANSWER = """### The Dry Numbers
- **Deal**: Acme renewal
- **Stage**: Negotiate (75%)

### Bottom Line
Healthy, but *single-threaded*. See [the opportunity](https://crm.example.com/opp?id=1&tab=2).
"""


def test_headings_become_bold_lines():
    out = markdown_to_mrkdwn("# Title\n### The Dry Numbers\n## **Already bold**")
    assert out.splitlines() == ["*Title*", "*The Dry Numbers*", "*Already bold*"]


def test_bold_italic_strike_and_links():
    out = markdown_to_mrkdwn("**bold** and __also__, *italic*, ~~gone~~, [docs](https://example.com/a)")
    assert out == "*bold* and *also*, _italic_, ~gone~, <https://example.com/a|docs>"


def test_deal_answer_converts_whole():
    out = markdown_to_mrkdwn(DEAL_ANSWER)
    assert out.splitlines() == [
        "*The Dry Numbers*",
        "- *Deal*: Acme renewal",
        "- *Stage*: Negotiate (75%)",
        "",
        "*Bottom Line*",
        "Healthy, but _single-threaded_. See <https://crm.example.com/opp?id=1&amp;tab=2|the opportunity>.",
    ]


def test_bullets_are_kept_and_star_bullets_cannot_pair_into_bold():
    out = markdown_to_mrkdwn("- one\n* two *x\n  + three\n1. four")
    assert out.splitlines() == ["- one", "• two *x", "  • three", "1. four"]


def test_control_characters_are_escaped_so_no_broadcast_pings():
    out = markdown_to_mrkdwn("a < b & c > d <!channel> <@U123>")
    assert out == "a &lt; b &amp; c &gt; d &lt;!channel&gt; &lt;@U123&gt;"


def test_autolinks_and_inline_code_are_kept():
    out = markdown_to_mrkdwn("see <https://example.com> and `select **x** from t where a<b`")
    assert out == "see <https://example.com> and `select **x** from t where a&lt;b`"


def test_table_becomes_an_aligned_code_block():
    table = "Intro\n\n| Deal | Amount |\n|:-----|-------:|\n| **Acme** | 1,000 |\n| Globex | 25 |\n\nAfter"
    out = markdown_to_mrkdwn(table)
    assert out.splitlines() == [
        "Intro",
        "",
        "```",
        "Deal   | Amount",
        "-------+-------",
        "Acme   |  1,000",
        "Globex |     25",
        "```",
        "",
        "After",
    ]


def test_fenced_code_is_kept_verbatim_but_escaped_and_language_dropped():
    out = markdown_to_mrkdwn("```sql\nselect **a** from t where x < 1\n```\n**after**")
    assert out.splitlines() == ["```", "select **a** from t where x &lt; 1", "```", "*after*"]


def test_unclosed_fence_is_closed():
    assert markdown_to_mrkdwn("```\ncode") == "```\ncode\n```"


def test_short_text_is_one_piece():
    assert split_message("hello", limit=100) == ["hello"]
    assert split_message("  \n ", limit=100) == []


def test_split_prefers_paragraph_boundaries():
    paragraphs = [f"paragraph {i} " + "word " * 10 for i in range(6)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    pieces = split_message(text, limit=130)
    assert len(pieces) > 1
    assert all(len(p) <= 130 for p in pieces)
    for piece in pieces:  # every piece holds whole paragraphs
        for chunk in piece.split("\n\n"):
            assert chunk.startswith("paragraph ") and chunk.endswith("word")
    assert "\n\n".join(pieces) == text


def test_split_long_paragraph_on_lines_then_words():
    lines = [f"- line {i} " + "x" * 20 for i in range(20)]
    pieces = split_message("\n".join(lines), limit=100)
    assert all(len(p) <= 100 for p in pieces)
    assert "\n".join(pieces).splitlines() == lines
    words = split_message("word " * 100, limit=50)
    assert all(len(p) <= 50 for p in words)
    assert " ".join(words).split() == ["word"] * 100
    unbroken = split_message("x" * 120, limit=50)
    assert [len(p) for p in unbroken] == [50, 50, 20]


def test_split_never_leaves_a_code_block_open():
    code = "```\n" + "\n".join(f"row {i:03d} | value" for i in range(60)) + "\n```"
    text = f"Intro paragraph.\n\n{code}\n\nOutro paragraph."
    pieces = split_message(text, limit=200)
    assert len(pieces) > 2
    for piece in pieces:
        assert len(piece) <= 200
        assert piece.count("```") % 2 == 0, piece
    rows = [line for p in pieces for line in p.splitlines() if line.startswith("row ")]
    assert rows == [f"row {i:03d} | value" for i in range(60)]
    assert pieces[0].startswith("Intro paragraph.")
    assert pieces[-1].endswith("Outro paragraph.")


def test_split_does_not_cut_an_html_entity():
    text = "a" * 18 + "&amp;" + "b" * 30
    pieces = split_message(text, limit=20)
    assert all(len(p) <= 20 for p in pieces)
    assert any(p.startswith("&amp;") for p in pieces)
    assert "".join(pieces) == text


@pytest.mark.parametrize("limit", [0, 15])
def test_split_rejects_tiny_limits(limit):
    with pytest.raises(ValueError):
        split_message("text", limit=limit)


def test_converted_long_answer_round_trip_respects_limit():
    answer = "\n\n".join(
        f"### Account {i}\n| Metric | Value |\n|---|---:|\n| ARR | {i * 1000} |\n| Seats | {i} |\n\n- **risk**: [call](https://x.test/{i})"
        for i in range(30)
    )
    pieces = split_message(markdown_to_mrkdwn(answer), limit=3000)
    assert len(pieces) > 1
    assert all(len(p) <= 3000 and p.count("```") % 2 == 0 for p in pieces)
