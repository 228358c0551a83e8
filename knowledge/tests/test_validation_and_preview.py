"""Per-kind front-matter validation, and the admin's markdown preview (safe HTML)."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from knowledge.frontmatter import split_front_matter
from knowledge.markdown import render_markdown
from knowledge.validation import validate_document_params

DEMO_DOCS = Path(__file__).resolve().parent.parent / "demo_docs"


@pytest.mark.parametrize("path", sorted(DEMO_DOCS.glob("*.md")), ids=lambda p: p.name)
def test_demo_documents_are_valid(path):
    params, _ = split_front_matter(path.read_text())
    assert validate_document_params(kind=params["kind"], params=params) == []


@pytest.mark.parametrize(
    ("kind", "params", "expected"),
    [
        ("business_logic", {"rule_set": "deal_stages"}, "missing 'stages'"),
        ("business_logic", {"rule_set": "deal_stages", "stages": {"Discover": {"probability": 10}}, "crm_stage_map": {"Won": "Closed Won"}},
         "crm_stage_map.Won: 'Closed Won' is not one of the stages"),
        ("business_logic", {"rule_set": "deal_stages", "stages": {"Discover": {"probability": 10}}, "evidence_phrases": {"budget": ["x"]}},
         "evidence_phrases.budget: not a MEDDPICC element"),
        ("business_logic", {"rule_set": "deal_health", "dimensions": {"a": {"signals": ["x"]}}, "bands": [{"min": 50, "label": "ok"}, {"min": 75, "label": "good"}]},
         "'min' values must be strictly decreasing"),
        ("business_logic", {"rule_set": "deal_risks", "thresholds": {"ghosted_days": 2.5}}, "thresholds.ghosted_days: must be an integer >= 0, got 2.5"),
        ("business_logic", {"rule_set": "churn", "weights": {"Commit": {"usage": 50, "engagement": 25}}, "bands": [{"max": 100, "label": "x"}]},
         "weights.Commit: must add up to 100 points, got 75"),
        ("business_logic", {"rule_set": "churn", "weights": {"Commit": {"usage": 100}}, "bands": [{"max": 50, "label": "x"}]},
         "bands: the last band must have max 100, got 50"),
        ("icp", {"industries": {"software": 1.5}}, "industries.software: must be a number from 0 to 1, got 1.5"),
        ("icp", {"title_tiers": {"high": {"keywords": ["vp"]}}}, "title_tiers.high: missing 'score'"),
        ("semantic_model", {"entities": {"deals": {"table": "pipeline", "columns": {"id": "id"}}}}, "this is a version 1 model"),
        ("semantic_model", {"entities": {"deals": {"table": "pipe line"}}}, "entities.deals.table: String should match pattern"),
        ("semantic_model", {"entities": {"deals": {"table": "pipeline"}}, "dimensions": {"stage": {"entity": "opps", "column": "stage"}}},
         "dimensions.stage.entity: unknown entity 'opps'; known: deals"),
        ("semantic_model", {"entities": {"deals": {"table": "pipeline"}}, "dimensions": {"stage": {"entity": "deals"}}},
         "dimensions.stage: give exactly one of 'column' or 'sql'"),
        ("semantic_model", {"entities": {"deals": {"table": "pipeline"}}, "measures": {"won": {"entity": "deals", "agg": "sum"}}},
         "measures.won: 'sum' needs a 'dimension' to aggregate"),
        ("playbook", {"rule_set": "competitors", "competitors": []}, "competitors: must not be empty"),
        ("sql_pattern", {"parameters": {"region": {"type": "text"}}}, "parameters.region.type: must be one of"),
        ("workflow", {"steps": [1]}, "steps[0]: must be a text or a mapping"),
        ("other", {"rule_set": "Deal Stages"}, "rule_set: must be a lower-case name"),
        ("other", {"status": "live"}, "status: must be one of draft, published"),
        ("other", {"kind": "icp"}, "the front matter says 'icp' but the document kind is 'other'"),
        ("other", {"tags": [1, 2]}, "tags[0]: must be a non-empty text"),
    ],
)
def test_problems_name_the_key_and_the_rule(kind, params, expected):
    problems = validate_document_params(kind=kind, params=params)
    assert any(expected in problem for problem in problems), problems


def test_unknown_keys_and_rule_sets_are_allowed():
    assert validate_document_params(kind="other", params={"notes": "anything", "rule_set": "my_rules"}) == []
    assert validate_document_params(kind="icp", params={}) == []


def test_preview_renders_structure():
    html = render_markdown(
        "---\na: 1\n---\n# Title\n\nSome **bold** and *em* and `code`.\n\n- one\n- two\n\n"
        "| h1 | h2 |\n|---|---|\n| a | b |\n\n```sql\nselect 1;\n```\n\n[docs](https://example.com/x)\n"
    )
    assert '<pre class="kb-front-matter">a: 1</pre>' in html
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<em>em</em>" in html
    # CommonMark output (markdown-it-py) puts a newline between block tags.
    assert "<code>code</code>" in html and "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<th>h1</th>" in html and "<td>b</td>" in html
    assert "<pre><code>select 1;\n</code></pre>" in html  # the language class is dropped by the sanitiser
    assert '<a href="https://example.com/x" rel="noopener noreferrer">docs</a>' in html


def test_preview_escapes_html_and_drops_unsafe_links():
    html = render_markdown('# <script>alert(1)</script>\n\n<img src=x onerror=alert(1)> [x](javascript:alert(1)) [y](" onmouseover="a)\n')
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "&lt;img" in html
    assert 'href="javascript' not in html
    # The quotes of `[y](" onmouseover="a)` stay text (nh3 writes text quotes unescaped): no tag
    # of the output carries an event handler or a javascript: URL.
    tags: list[tuple[str, list]] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: tags.append((tag, attrs))
    parser.feed(html)
    assert tags and all(not name.startswith("on") for _, attrs in tags for name, _ in attrs)
    assert all("javascript" not in (value or "") for _, attrs in tags for _, value in attrs)
    assert "[y](&quot; onmouseover" in html or '[y](" onmouseover' in html  # shown as text
