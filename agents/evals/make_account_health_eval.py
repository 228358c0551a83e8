"""Write ``agents/evals/account_health.yaml``: customer-health questions over the demo tenant (as-of
2025-06-30) with expected figures computed from the CSV files by the tests' independent
re-implementation of the churn document's formulas (``agents/tests/test_account_health.py``,
standard library only, never the code under test).

Run: ``DJANGO_SETTINGS_MODULE=revops.settings .venv/bin/python -m agents.evals.make_account_health_eval``.
"""

from __future__ import annotations

from pathlib import Path

import django

django.setup()

import yaml  # noqa: E402

from agents.tests.conftest import read_csv  # noqa: E402
from agents.tests.test_account_health import _band, _half_up, business_risk, churn, engagement_risk, expected_ranking, facts_from_csv  # noqa: E402

OUT = Path(__file__).resolve().parent / "account_health.yaml"
ICP_INDUSTRY = {"technology": 1.0, "software": 1.0, "telecommunications": 0.8, "finance": 0.7, "medical": 0.6, "marketing": 0.5,
                "services": 0.5, "retail": 0.4, "entertainment": 0.4, "employment": 0.3}
ICP_BANDS = [(5000, 1.0), (1000, 0.9), (200, 0.6), (50, 0.3), (0, 0.1)]


def expansion(facts: dict) -> dict[str, int]:
    """Expansion score per account (churn document: white space 50, activity growth 20, ICP fit 30)."""
    products = {p["product"] for p in read_csv("products")}

    def band(emp):
        return next(b for b in ICP_BANDS if emp >= b[0])

    out = {}
    for name, x in facts.items():
        same = [o for n, o in facts.items() if n != name and o["sector"] == x["sector"]]
        peers = [o for o in same if band(o["employees"]) == band(x["employees"])] or same
        white = max((100 * sum(p in o["products"] for o in peers) / len(peers) for p in products - x["products"]), default=0.0)
        growth = (100.0 if x["recent"] else 0.0) if x["previous"] == 0 else max(0.0, min(100.0, 100 * (x["recent"] - x["previous"]) / x["previous"]))
        sector = "technology" if x["sector"] == "technolgy" else x["sector"]
        fit = 100 * (ICP_INDUSTRY[sector] + band(x["employees"])[1]) / 2
        out[name] = _half_up((50 * white + 20 * growth + 30 * fit) / 100)
    return out


def main() -> None:
    facts = facts_from_csv()
    ranking = expected_ranking(facts)
    exp = expansion(facts)
    exp_rank = sorted(exp.items(), key=lambda t: (-t[1], t[0]))
    route = ["account_health"]  # copied per question (no YAML anchors)
    qs = [
        {"question": "Which customers are at highest churn risk this quarter?", "route": list(route), "numbers": [s for _, s in ranking[:3]], "names": [n for n, _ in ranking[:3]]},
        {"question": "Top 10 accounts by churn risk", "route": list(route), "names": [n for n, _ in ranking[:10]]},
        {"question": "Top 5 accounts by churn risk", "route": list(route), "numbers": [s for _, s in ranking[:5]], "names": [n for n, _ in ranking[:5]]},
        {"question": "Which accounts are most likely to churn?", "route": list(route), "names": [n for n, _ in ranking[:3]]},
        {"question": "Rank our customers by churn risk", "route": list(route), "names": [n for n, _ in ranking[:3]]},
    ]
    for name in ("Acme Corporation", "Massive Dynamic"):
        x = facts[name]
        s = churn(x, {"engagement": engagement_risk(x), "business": business_risk(x)}, "Commit")
        qs.append({"question": f"How healthy is {name}?", "route": list(route), "numbers": [s, x["won_total"], x["won_revenue"], exp[name]], "names": ["Commit", _band(s)]})
    x = facts["Golddex"]
    s = churn(x, {"engagement": engagement_risk(x), "business": business_risk(x)}, "Commit")
    qs.append({"question": "What is the churn risk of Golddex?", "route": list(route), "numbers": [s], "names": [_band(s), "Intervention"]})
    qs.append({"question": "Which accounts have expansion potential?", "route": list(route), "numbers": [s for _, s in exp_rank[:2]], "names": [n for n, _ in exp_rank[:2]]})
    for sector, words in (("medical", "upsell opportunities in the medical sector"), ("retail", "cross-sell potential in retail"), ("software", "Which software accounts could we upsell?")):
        top = [t for t in exp_rank if facts[t[0]]["sector"] == sector][:2]
        qs.append({"question": words, "route": list(route), "numbers": [s for _, s in top], "names": [n for n, _ in top] + [f"{sector} sector"]})
    declining = [n for n, x in facts.items() if x["recent"] < x["previous"]]
    nums = [len(declining), len(facts), sum(x["recent"] for x in facts.values()), sum(x["previous"] for x in facts.values())]
    for q in ("accounts with declining engagement", "Which customers show declining engagement?", "Where is engagement dropping?"):
        qs.append({"question": q, "route": list(route), "numbers": list(nums), "names": ["declining engagement"]})
    qs.append({"question": "How healthy is Foobarix Industries?", "route": list(route), "names": ["no account named"]})
    qs.append({"question": "usage trend for Acme Corporation", "route": list(route), "names": ["declares no usage entity"]})
    data = {
        "description": "Customer health (issue 11, part 3): churn risk ranking, health card, expansion, declining engagement, usage "
        "over the demo tenant (as-of 2025-06-30). Expected figures from the CSV files by agents/evals/make_account_health_eval.py.",
        "as_of": "2025-06-30",
        "questions": qs,
    }
    OUT.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    print(f"{len(qs)} questions -> {OUT}")


if __name__ == "__main__":
    main()
