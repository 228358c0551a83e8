"""Typed KB rule sets (issue 9, part 4): one pydantic model per ``rule_set``, messages naming the
key path, parsed once per document version, readers get the typed model."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.frontmatter import split_front_matter
from knowledge.validation import (
    RULE_SETS,
    DealStagesRules,
    IcpRules,
    RuleSetInvalid,
    document_rules,
    rule_set_parse,
    validate_document_params,
)

from knowledge.targets import TargetsSpec

DEMO_DOCS = Path(__file__).resolve().parent.parent / "demo_docs"


def _demo(name: str) -> dict:
    return split_front_matter((DEMO_DOCS / name).read_text())[0]


def test_every_demo_rule_set_parses_into_its_model():
    for path in sorted(DEMO_DOCS.glob("*.md")):
        params = split_front_matter(path.read_text())[0]
        rule_set = params.get("rule_set")
        if rule_set == "targets":
            assert isinstance(rule_set_parse(rule_set, params), TargetsSpec), path.name
        elif rule_set in RULE_SETS and rule_set != "semantic_model":
            parsed = rule_set_parse(rule_set, params)
            assert isinstance(parsed, RULE_SETS[rule_set]), path.name


def test_targets_rule_set_messages_name_the_key_path():
    params = {"rule_set": "targets", "targets": [{"period": "Q5 2025", "amount": -1}]}
    with pytest.raises(RuleSetInvalid) as exc:
        rule_set_parse("targets", params)
    text = "; ".join(exc.value.errors)
    assert "targets[0].period" in text or "targets.0.period" in text
    assert "amount" in text


def test_the_typed_model_carries_the_documents_figures():
    params = _demo("deal_stages_meddpicc.md")
    rules = rule_set_parse("deal_stages", params)
    assert isinstance(rules, DealStagesRules)
    # Figures compared with the YAML as read by the front-matter parser, not with the model.
    for stage, gate in params["stages"].items():
        assert rules.stages[stage].probability == gate["probability"]
        assert type(rules.stages[stage].probability) is type(gate["probability"])  # ints stay ints
        assert rules.stages[stage].requires == gate.get("requires", [])
    # Mapping-style access for readers written against the raw front matter.
    assert rules.get("crm_stage_map") == params["crm_stage_map"]
    assert rules["stages"]["Negotiate"]["probability"] == params["stages"]["Negotiate"]["probability"]
    assert rules.get("not_given", "fallback") == "fallback" and "not_given" not in rules
    icp = rule_set_parse("icp", _demo("icp.md"))
    assert isinstance(icp, IcpRules) and icp.weights == _demo("icp.md")["weights"]


@pytest.mark.parametrize(
    "rule_set, params, expected",
    [
        ("deal_health", {"dimensions": {"a": {"signals": ["x"]}}, "bands": [{"min": 90, "label": "a"}, {"min": "x", "label": "b"}]},
         "bands[1].min: must be a number from 0 to 100, got 'x'"),
        ("deal_stages", {"stages": {"Negotiate": {"probability": 175}}}, "stages.Negotiate.probability: must be a number from 0 to 100, got 175"),
        ("deal_stages", {"stages": {"Discover": {"probability": 10, "requires": ["budget"]}}}, "stages.Discover.requires[0]: must be one of"),
        ("icp", {"weights": {"company": 1}, "employee_bands": [{"min": 10}]}, "employee_bands[0]: missing 'score'"),
        ("deal_risks", {"thresholds": "many"}, "thresholds: must be a mapping"),
    ],
)
def test_messages_name_the_key_path(rule_set, params, expected):
    with pytest.raises(RuleSetInvalid) as caught:
        rule_set_parse(rule_set, params)
    assert any(expected in e for e in caught.value.errors), caught.value.errors
    problems = validate_document_params(kind="business_logic", params={"rule_set": rule_set, **params})
    assert any(expected in p for p in problems), problems


def test_unknown_keys_are_kept_as_notes():
    rules = rule_set_parse("deal_risks", {"thresholds": {"ghosted_days": 21}, "owner_note": "ask RevOps"})
    assert rules["owner_note"] == "ask RevOps" and rules.thresholds == {"ghosted_days": 21}


class _Doc:
    def __init__(self, pk: int, version: int, body: str):
        self.pk, self.version, self.body, self.tenant_id = pk, version, body, 1


def test_document_rules_parse_once_per_document_version():
    body = (DEMO_DOCS / "deal_risk_warnings.md").read_text()
    params = split_front_matter(body)[0]
    first = document_rules(_Doc(10_001, 1, body), "deal_risks", params)
    assert document_rules(_Doc(10_001, 1, body), "deal_risks", params) is first
    changed = body.replace("ghosted_days: 21", "ghosted_days: 14")
    second = document_rules(_Doc(10_001, 2, changed), "deal_risks", split_front_matter(changed)[0])
    assert second is not first and second.thresholds["ghosted_days"] == 14


def test_a_typo_in_a_rule_set_is_refused_on_save(world_a):
    from django.core.exceptions import ValidationError

    from knowledge.models import KnowledgeDocument

    body = "---\nkind: business_logic\nrule_set: deal_risks\nthresholds:\n  ghosted_days: soon\n---\n# Risks\n"
    doc = KnowledgeDocument(tenant=world_a.tenant, kind="business_logic", title="Risks", body=body)
    with pytest.raises(ValidationError) as caught:
        doc.full_clean()
    assert any(m.startswith("thresholds.ghosted_days: must be an integer >= 0") for m in caught.value.message_dict["body"])
