"""Front matter is parsed once per document body (libyaml when available) and callers own their copy."""

from __future__ import annotations

import yaml

from knowledge import frontmatter
from knowledge.frontmatter import YAML_LOADER, FrontMatterError, split_front_matter

BODY = "---\nrule_set: deal_risk\nstages: {Discover: 10, Negotiate: 75}\nwarnings: [ghosted]\n---\n# Risks\n"


def test_libyaml_loader_is_used_when_pyyaml_has_it():
    if yaml.__with_libyaml__:
        assert YAML_LOADER is yaml.CSafeLoader
    else:  # pragma: no cover - depends on how PyYAML was built
        assert YAML_LOADER is yaml.SafeLoader


def _yaml_key(yaml_text: str) -> bytes:
    import hashlib

    return hashlib.sha256(yaml_text.encode()).digest()


def test_same_front_matter_is_parsed_once_and_copies_are_independent():
    body = BODY + "unique: cache-test\n"
    key = _yaml_key("rule_set: deal_risk\nstages: {Discover: 10, Negotiate: 75}\nwarnings: [ghosted]\n")
    frontmatter._cache.pop(key, None)
    first, markdown = split_front_matter(body)
    assert key in frontmatter._cache
    cached = frontmatter._cache[key]
    first["stages"]["Discover"] = 99  # a caller mutating its result
    first["warnings"].append("x")
    second, markdown2 = split_front_matter(body)
    assert frontmatter._cache[key] is cached  # served from the cache, not parsed again
    assert second == {"rule_set": "deal_risk", "stages": {"Discover": 10, "Negotiate": 75}, "warnings": ["ghosted"]}
    assert markdown == markdown2 == "# Risks\nunique: cache-test\n"
    # A new version of the document (another body) is parsed again.
    third, _ = split_front_matter(body.replace("Negotiate: 75", "Negotiate: 70"))
    assert third["stages"]["Negotiate"] == 70


def test_cache_holds_parsed_mappings_only_never_document_bodies():
    """The cache is keyed by the YAML block and holds its mapping: a large body is not kept, two
    bodies with the same front matter share one entry and each gets its own markdown, and a body
    without front matter is not cached at all."""
    yaml_text = "owner: cache-bodies-test\n"
    key = _yaml_key(yaml_text)
    frontmatter._cache.pop(key, None)
    before = len(frontmatter._cache)
    big = "x" * 200_000
    data, markdown = split_front_matter(f"---\n{yaml_text}---\n{big}\n")
    assert data == {"owner": "cache-bodies-test"} and markdown == big + "\n"
    assert frontmatter._cache[key] == {"owner": "cache-bodies-test"}
    assert not any(big in repr(value) for value in frontmatter._cache.values())
    data, markdown = split_front_matter(f"---\n{yaml_text}---\n# Another document\n")
    assert data == {"owner": "cache-bodies-test"} and markdown == "# Another document\n"
    assert len(frontmatter._cache) == before + 1
    plain = "# No front matter " + big
    assert split_front_matter(plain) == ({}, plain)
    assert len(frontmatter._cache) == before + 1


def test_invalid_yaml_still_names_the_line_with_the_c_loader():
    body = "---\nok: 1\nbad: [unclosed\n---\n"
    for _ in range(2):  # errors are not cached
        try:
            split_front_matter(body)
        except FrontMatterError as exc:
            assert exc.line is not None and "line" in str(exc)
        else:
            raise AssertionError("expected FrontMatterError")


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(frontmatter, "CACHE_SIZE", 3)
    for i in range(10):
        split_front_matter(f"---\nn: {i}\n---\n")
    assert len(frontmatter._cache) <= 3
