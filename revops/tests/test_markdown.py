"""The one markdown pipeline (revops.lib.markdown): one parse, HTML / Slack mrkdwn / plain text
renderers, blocks and heading paths for chunking. Expected outputs are written out by hand."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from revops.lib.markdown import (
    Table,
    aligned_table,
    blocks,
    headings,
    inline_to_mrkdwn,
    parse,
    parse_table,
    sections,
    to_html,
    to_mrkdwn,
    to_plain,
)

TABLE = "| Deal | Stage | Amount |\n|:-----|:-----:|-------:|\n| **Acme** | Negotiate | $1,000 |\n| Globex `x` | Discover | $25 |"


def _tags(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    tags: list[tuple[str, list[tuple[str, str | None]]]] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append((tag, attrs))
    parser.feed(html)
    return tags


# --- tables -------------------------------------------------------------------------------------


def test_table_is_read_as_plain_cells_with_alignments():
    table = parse_table("Intro\n\n" + TABLE)
    assert table == Table(
        header=["Deal", "Stage", "Amount"],
        aligns=["left", "center", "right"],
        rows=[["Acme", "Negotiate", "$1,000"], ["Globex x", "Discover", "$25"]],
    )
    assert aligned_table(table) == [
        "Deal     |   Stage   | Amount",
        "---------+-----------+-------",
        "Acme     | Negotiate | $1,000",
        "Globex x |  Discover |    $25",  # str.center puts the odd space on the left
    ]


def test_escaped_pipes_stay_in_their_cell_and_no_table_is_an_error():
    assert parse_table("| a | b |\n|---|---|\n| x \\| y | 2 |").rows == [["x | y", "2"]]
    with pytest.raises(ValueError, match="no markdown table"):
        parse_table("just | a line\nand another")


def test_table_in_each_renderer():
    html = to_html(TABLE)
    assert "<table>" in html and "<th>Deal</th>" in html and "<td><strong>Acme</strong></td>" in html
    assert "style=" not in html  # the sanitiser drops style attributes
    assert to_mrkdwn(TABLE).splitlines() == [
        "```",
        "Deal     |   Stage   | Amount",
        "---------+-----------+-------",
        "Acme     | Negotiate | $1,000",
        "Globex x |  Discover |    $25",  # str.center puts the odd space on the left
        "```",
    ]
    assert to_plain(TABLE).splitlines() == ["Deal  Stage  Amount", "Acme  Negotiate  $1,000", "Globex x  Discover  $25"]


# --- lists, code, links, headings ---------------------------------------------------------------


def test_nested_lists():
    md = "- one\n  - one.a\n    - one.a.i\n- two\n\n1. first\n2. second\n   * inner"
    html = to_html(md)
    assert html.count("<ul>") == 4 and html.count("<ol>") == 1
    assert "<li>one\n<ul>\n<li>one.a\n<ul>\n<li>one.a.i</li>" in html
    assert to_mrkdwn(md).splitlines() == ["- one", "  - one.a", "    - one.a.i", "- two", "", "1. first", "2. second", "  • inner"]
    assert to_plain(md).splitlines() == ["- one", "  - one.a", "    - one.a.i", "- two", "", "1. first", "2. second", "  - inner"]


def test_fenced_code_is_verbatim():
    md = "```python\nif a < b and c:\n    print('**not bold**')\n```"
    html = to_html(md)
    assert "<pre><code>if a &lt; b and c:\n    print('**not bold**')\n</code></pre>" in html
    assert to_mrkdwn(md) == "```\nif a &lt; b and c:\n    print('**not bold**')\n```"
    assert to_plain(md) == "if a < b and c:\n    print('**not bold**')"
    assert to_mrkdwn("text\n\n```\nnever closed") == "text\n\n```\nnever closed\n```"
    assert to_mrkdwn("use `a<b` here") == "use `a&lt;b` here"


def test_links_in_each_renderer():
    md = "See [the opp](https://crm.example.com/o?id=1&tab=2), <https://x.test/a> and [rel](/admin/)."
    html = to_html(md)
    links = [dict(attrs) for tag, attrs in _tags(html) if tag == "a"]
    assert [link["href"] for link in links] == ["https://crm.example.com/o?id=1&tab=2", "https://x.test/a", "/admin/"]
    assert all(link["rel"] == "noopener noreferrer" for link in links)
    assert 'rel="noopener noreferrer nofollow"' in to_html("[a](https://a.test)", link_rel="noopener noreferrer nofollow")
    assert to_mrkdwn(md) == "See <https://crm.example.com/o?id=1&amp;tab=2|the opp>, <https://x.test/a> and rel."
    assert to_plain(md) == "See the opp (https://crm.example.com/o?id=1&tab=2), https://x.test/a and rel."


def test_headings_in_each_renderer():
    md = "# Deal **health**\n\nBody.\n\nSetext title\n------------"
    assert "<h1>Deal <strong>health</strong></h1>" in to_html(md) and "<h2>Setext title</h2>" in to_html(md)
    assert to_mrkdwn(md).splitlines() == ["*Deal health*", "", "Body.", "", "*Setext title*"]
    assert to_plain(md).splitlines() == ["Deal health", "", "Body.", "", "Setext title"]


def test_blank_lines_follow_the_source():
    assert to_mrkdwn("### Numbers\n- a\n- b\n\nAfter **this**\nnext line") == "*Numbers*\n- a\n- b\n\nAfter *this*\nnext line"


def test_heading_paths_sections_and_blocks():
    md = (
        "Intro.\n\n# Deal stages\n\nText.\n\n## Discover\n\n- a\n- b\n\n### Exit\n\nx\n\n## Negotiate ##\n\n"
        "```sql\n# not a heading\n```\n\n> # quoted, not a section\n\n[1]: https://ref.test\n\n# Risk\n"
    )
    assert [(h.level, h.title, h.path) for h in headings(md)] == [
        (1, "Deal stages", "Deal stages"),
        (2, "Discover", "Deal stages > Discover"),
        (3, "Exit", "Deal stages > Discover > Exit"),
        (2, "Negotiate", "Deal stages > Negotiate"),
        (1, "Risk", "Risk"),
    ]
    assert [(s.heading_path, [b.kind for b in s.blocks]) for s in sections(md)] == [
        ("", ["paragraph"]),
        ("Deal stages", ["paragraph"]),
        ("Deal stages > Discover", ["list"]),
        ("Deal stages > Discover > Exit", ["paragraph"]),
        ("Deal stages > Negotiate", ["code", "quote", "text"]),  # "Risk" has no content
    ]
    code = next(b for b in blocks(md) if b.kind == "code")
    assert code.lines == ("```sql", "# not a heading", "```") and code.fence == "```"
    assert next(b for b in blocks(md) if b.kind == "text").lines == ("[1]: https://ref.test",)


def test_one_parse_serves_every_renderer():
    doc = parse("# T\n\n**b** & <i>")
    assert to_mrkdwn(doc) == "*T*\n\n*b* &amp; &lt;i&gt;"
    assert to_plain(doc) == "T\n\nb & <i>"
    assert "<strong>b</strong> &amp; &lt;i&gt;" in to_html(doc)
    assert parse(doc) is doc


# --- safety -------------------------------------------------------------------------------------


def test_raw_html_is_refused_as_markup():
    md = '<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)> <b onclick="x()">b</b>\n\n<div style="x">d</div>'
    html = to_html(md)
    assert [tag for tag, _ in _tags(html)] == ["p", "p", "p"]  # nothing but the paragraphs
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_unsafe_link_targets_are_never_links():
    md = "[a](javascript:alert(1)) [b](vbscript:x) [c](data:text/html,x) [d](JAVASCRIPT:alert(2)) ![e](javascript:y)"
    html = to_html(md)
    assert [tag for tag, _ in _tags(html)] == ["p"]
    assert "javascript:alert(1)" in html  # shown as text
    mrkdwn = to_mrkdwn(md)
    assert "<" not in mrkdwn.replace("&lt;", "")  # no Slack link at all
    assert to_mrkdwn("[x](ftp://files.test/a)") == "x"  # Slack links only for http(s)/mailto


def test_slack_escaping_blocks_mentions_and_broadcasts():
    md = "a < b & c > d <!channel> <!here|here> <@U123> &lt;!everyone&gt;"
    assert to_mrkdwn(md) == "a &lt; b &amp; c &gt; d &lt;!channel&gt; &lt;!here|here&gt; &lt;@U123&gt; &lt;!everyone&gt;"
    # A link label or URL cannot close the link early or inject a mention.
    assert to_mrkdwn("[<!channel> a|b](https://x.test/?q=a|b&c=<d>)") == "<https://x.test/?q=a%7Cb&amp;c=%3Cd%3E|&lt;!channel&gt; a/b>"
    assert to_mrkdwn("# <!channel>") == "*&lt;!channel&gt;*"
    assert to_mrkdwn("```\n<!channel>\n```") == "```\n&lt;!channel&gt;\n```"
    assert to_mrkdwn("| a |\n|---|\n| <@U1> |").splitlines()[3] == "&lt;@U1&gt;"
    assert inline_to_mrkdwn("[1] query <!channel> **b**") == "[1] query &lt;!channel&gt; *b*"


def test_slack_emphasis_and_bullets():
    assert to_mrkdwn("**b** __c__ *i* _j_ ~~s~~") == "*b* *c* _i_ _j_ ~s~"
    assert to_mrkdwn("* star\n+ plus") == "• star\n• plus"  # a `*` bullet must not pair into bold
    assert to_mrkdwn("> quoted **x**\n> more") == "> quoted *x*\n> more"
    assert to_mrkdwn("---") == "---"
    assert to_mrkdwn("") == "" and to_plain("  \n") == "" and blocks("") == []
