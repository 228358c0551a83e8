import pytest

from knowledge.chunking import Chunk, chunk_markdown

DOC = """---
stalled_in_stage_days: 30
---
Intro before any heading.

# Deal stages

Each stage has a default probability.

## Discover

Probability 10%. Requires Metrics and Identify pain.

## Negotiate

| Stage | Probability |
|---|---|
| Negotiate | 75 |
| Signature | 90 |

```sql
# a comment, not a heading
select stage from deals;
```

# Risk warnings ##

- no activity for 14 days
- single-threaded
"""


def bodies(chunks: list[Chunk]) -> list[str]:
    return [c.text.split("\n\n", 1)[1] if c.heading_path else c.text for c in chunks]


def test_empty_and_blank_documents_give_no_chunks():
    assert chunk_markdown("") == []
    assert chunk_markdown("  \n\n \n") == []
    assert chunk_markdown("---\na: 1\n---\n") == []
    assert chunk_markdown("# Only a heading\n## And another\n") == []


def test_heading_paths_positions_and_prefix():
    chunks = chunk_markdown(DOC)
    assert [c.heading_path for c in chunks] == [
        "",
        "Deal stages",
        "Deal stages > Discover",
        "Deal stages > Negotiate",
        "Risk warnings",
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3, 4]
    assert chunks[0].text == "Intro before any heading."
    assert chunks[2].text == "Deal stages > Discover\n\nProbability 10%. Requires Metrics and Identify pain."


def test_front_matter_is_not_chunked():
    assert not any("stalled_in_stage_days" in c.text for c in chunk_markdown(DOC))


def test_heading_inside_code_fence_is_code_and_table_kept_whole():
    negotiate = chunk_markdown(DOC)[3]
    assert "| Stage | Probability |\n|---|---|\n| Negotiate | 75 |\n| Signature | 90 |" in negotiate.text
    assert "```sql\n# a comment, not a heading\nselect stage from deals;\n```" in negotiate.text


def test_list_kept_whole():
    chunks = chunk_markdown("# L\n\n" + "\n".join(f"- item {i} is a list entry" for i in range(30)), max_chars=2000)
    assert len(chunks) == 1
    assert chunks[0].text.count("- item") == 30


def test_sibling_and_parent_headings_reset_the_path():
    md = "# A\n\na\n\n### A3\n\nx\n\n## B2\n\ny\n\n# C\n\nz\n"
    assert [c.heading_path for c in chunk_markdown(md)] == ["A", "A > A3", "A > B2", "C"]


def test_long_table_is_split_on_rows_with_header_repeated():
    header = "| Account | Segment | Weight |\n|---|---|---|"
    rows = [f"| account-{i:03d} | Commit | {i} |" for i in range(120)]
    chunks = chunk_markdown("# Weights\n\n" + header + "\n" + "\n".join(rows), max_chars=400, overlap_chars=50)
    assert len(chunks) > 3
    seen = []
    for body in bodies(chunks):
        assert body.startswith(header + "\n")
        assert len(body) <= 400
        seen += [line for line in body.splitlines()[2:]]
    assert seen == rows  # every row exactly once, in order (tables do not overlap)


def test_long_code_block_is_split_with_fences_repeated():
    code = "```python\n" + "\n".join(f"value_{i} = compute({i})" for i in range(200)) + "\n```"
    chunks = chunk_markdown(code, max_chars=300)
    assert len(chunks) > 5
    for body in bodies(chunks):
        assert body.startswith("```python\n") and body.endswith("\n```")
        assert len(body) <= 300


def test_long_paragraph_is_split_within_budget():
    paragraph = " ".join(f"Sentence number {i} explains a rule." for i in range(200))  # one line
    chunks = chunk_markdown("# Rules\n\n" + paragraph, max_chars=500, overlap_chars=0)
    assert len(chunks) > 10
    assert all(len(b) <= 500 for b in bodies(chunks))
    assert " ".join(bodies(chunks)) == paragraph


def test_consecutive_chunks_of_a_section_overlap_with_whole_sentences():
    paragraphs = [" ".join(f"Fact {p}.{i} holds." for i in range(10)) for p in range(6)]
    chunks = chunk_markdown("# Facts\n\n" + "\n\n".join(paragraphs), max_chars=400, overlap_chars=60)
    assert len(chunks) >= 3
    texts = bodies(chunks)
    for previous, current in zip(texts, texts[1:]):
        first_paragraph = current.split("\n\n", 1)[0]
        assert previous.endswith(first_paragraph)  # the overlap is the previous chunk's tail
        assert 0 < len(first_paragraph) <= 60
        assert first_paragraph.startswith("Fact ") and first_paragraph.endswith("holds.")  # whole sentences
    for body in texts:
        assert len(body) <= 400


def test_no_overlap_across_sections():
    md = "# A\n\n" + "Alpha sentence here. " * 30 + "\n\n# B\n\nBeta."
    chunks = chunk_markdown(md, max_chars=300, overlap_chars=100)
    assert chunks[-1].text == "B\n\nBeta."


@pytest.mark.parametrize("kwargs", [{"max_chars": 0}, {"max_chars": 100, "overlap_chars": 100}, {"overlap_chars": -1}])
def test_bad_sizes_are_refused(kwargs):
    with pytest.raises(ValueError):
        chunk_markdown("text", **kwargs)
