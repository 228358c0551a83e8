import datetime

import pytest

from knowledge.frontmatter import FrontMatterError, split_front_matter


def test_no_front_matter_returns_body_unchanged():
    body = "# Title\n\ntext\n---\nnot front matter\n"
    assert split_front_matter(body) == ({}, body)


def test_empty_body():
    assert split_front_matter("") == ({}, "")


def test_parses_mapping_and_returns_rest():
    body = "---\nstalled_days: 30\nstages:\n  Discover: 10\neffective: 2025-01-31\n---\n# Rules\n\ntext\n"
    params, rest = split_front_matter(body)
    assert params == {"stalled_days": 30, "stages": {"Discover": 10}, "effective": datetime.date(2025, 1, 31)}
    assert rest == "# Rules\n\ntext\n"


def test_crlf_bom_and_trailing_spaces_on_fences():
    body = "\ufeff--- \r\na: 1\r\n---\r\nrest\r\n"
    assert split_front_matter(body) == ({"a": 1}, "rest\r\n")


def test_empty_block_is_empty_mapping():
    assert split_front_matter("---\n---\nrest") == ({}, "rest")


def test_invalid_yaml_names_the_line():
    body = "---\na: 1\nb: [unclosed\nc: 3\n---\nrest"
    with pytest.raises(FrontMatterError) as excinfo:
        split_front_matter(body)
    assert excinfo.value.line is not None and excinfo.value.line >= 3
    assert f"line {excinfo.value.line}" in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_bad_indentation_reports_line_of_problem():
    body = "---\nok: 1\n  bad: 2\n---\n"
    with pytest.raises(FrontMatterError, match=r"line 3"):
        split_front_matter(body)


@pytest.mark.parametrize("yaml_text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_non_mapping_is_refused(yaml_text):
    with pytest.raises(FrontMatterError, match="mapping"):
        split_front_matter(f"---\n{yaml_text}---\nrest")


def test_unclosed_block_is_refused():
    with pytest.raises(FrontMatterError, match="never closed"):
        split_front_matter("---\na: 1\n# Heading\n")


def test_unsafe_yaml_tags_are_refused():
    with pytest.raises(FrontMatterError):
        split_front_matter("---\na: !!python/object/apply:os.system ['true']\n---\n")
