"""Regenerates copilot.yaml: deal copilot and competitive-intelligence questions over the demo
tenant (as-of 2025-06-30), expected routes, numbers and names computed from the CRM sample CSV
files with the standard library (rules re-implemented from agents/playbooks/notes.py's docstring,
cue phrases and competitor names read from the KB document's front matter), independent of the
product code. Run: .venv/bin/python agents/evals/make_copilot_eval.py"""
from pathlib import Path
import csv, datetime as dt, re, collections, yaml

ROOT = Path(__file__).resolve().parents[2]
D = ROOT / "integrations/warehouse/demo_crm"
rd = lambda n: list(csv.DictReader(open(D / f"{n}.csv", encoding="utf-8")))
COMP = yaml.safe_load((ROOT / "knowledge/demo_docs/competitors.md").read_text().split("---")[1])
RISK = yaml.safe_load((ROOT / "knowledge/demo_docs/deal_risk_warnings.md").read_text().split("---")[1])
AS_OF = dt.date(2025, 6, 30)


def d(s):
    m, dd, y = map(int, s.split("/")); return dt.date(y, m, dd)


def at(text, phrase):
    return re.search(r"(?<![a-z0-9])" + re.escape(phrase.lower()), text.lower()) is not None


def sentences(text):
    out = []
    for raw in re.split(r"(?<=[.!?])\s+|\n\s*\n", text):
        s = " ".join(raw.split())
        if s and not out:
            s = re.sub(r"^(hi|hello|dear)?\s*[A-Z][\w'’-]*,\s+", "", s)
        if s:
            out.append(s)
    return out


NEG = re.compile(r"\bno (immediate |major |significant |real )?(blockers?|concerns?|objections?|reservations?|hesitation)\b|\bany (\w+ ){0,2}(concerns?|reservations?|questions)\b", re.I)


def objections(text):
    out = []
    for s in sentences(text):
        if any(at(s, c) for c in COMP["objection_cues"]) and not NEG.search(s):
            out.append(next((k for k, w in COMP["objection_categories"].items() if any(at(s, x) for x in w)), "other"))
    return out


notes = sorted(({**r, "date": d(r["timestamp"])} for r in rd("interactions") if d(r["timestamp"]) <= AS_OF), key=lambda r: r["date"], reverse=True)
named = lambda t: [c for c in COMP["competitors"] if at(t, c)]
of = lambda a: [n for n in notes if n["account_name"] == a]
Q = []


def add(q, numbers=(), names=()):
    Q.append({"question": q, "route": ["deal_copilot"], "numbers": list(numbers), "names": list(names)})


for q, a, k in [("Summarize the last 5 calls with Acme Corporation", "Acme Corporation", 5), ("Give me a recap of the last 3 calls with Codehow", "Codehow", 3), ("summarise the last 4 notes with Bioholding", "Bioholding", 4)]:
    rows = of(a)
    add(q, [k, len(rows)], [a] + [n["date"].isoformat() for n in rows[:k]])
for q, a in [("What objections did Acme Corporation raise?", "Acme Corporation"), ("What objections has Faxquote raised?", "Faxquote")]:
    cats = collections.Counter(c for n in of(a) for c in objections(n["comment"]))
    add(q, [sum(cats.values()), len(of(a))], [a] + list(cats))
for a in ["Acme Corporation", "Codehow"]:
    rows = of(a)
    done = [n for n in rows if n["status"].lower() == "completed"]
    opp = [r for r in rd("sales_pipeline") if r["account"] == a and r["deal_stage"] in ("Prospecting", "Engaging")]
    add(f"What are the next best actions for {a}?", [len(rows), len(opp), (AS_OF - done[0]["date"]).days], [a, RISK["actions"]["no_activity"]])
for contact, a in [("Paul Stokes", "Acme Corporation"), (of("Codehow")[0]["contact_name"], "Codehow")]:
    rows = [n for n in of(a) if n["contact_name"] == contact]
    meeting = next((n for n in rows if n["activity_type"] == "Meeting"), rows[0])
    add(f"Draft a follow-up email to {contact}", [], [contact, a, "This is a template", meeting["date"].isoformat()])
last = of("Acme Corporation")[0]
add("competitors mentioned in our last call with Acme Corporation", [], named(last["comment"]) + [last["date"].isoformat()])
per = collections.Counter(c for n in of("Acme Corporation") for c in named(n["comment"]))
add("Which competitors did Acme Corporation mention?", list(per.values()), list(per))
office = {r["sales_agent"]: r["regional_office"] for r in rd("sales_teams")}
acc = collections.defaultdict(collections.Counter)
for r in rd("sales_pipeline"):
    if r["account"]:
        acc[r["account"]][office[r["sales_agent"]]] += 1
primary = {a: sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] for a, c in acc.items()}
for q, year in [("competitor mentions by region in 2024", 2024), ("Competitor mentions per regional office last year", 2024)]:
    cells = collections.defaultdict(collections.Counter)
    for n in notes:
        if n["date"].year == year:
            for c in named(n["comment"]):
                cells[c][primary[n["account_name"]]] += 1
    add(q, [sum(r.values()) for r in cells.values()] + [sum(sum(r.values()) for r in cells.values())], sorted({g for r in cells.values() for g in r}))
sector = {r["account"]: {"technolgy": "technology"}.get(r["sector"], r["sector"]) for r in rd("accounts")}
tot = collections.Counter(); secs = set()
for n in notes:
    for c in named(n["comment"]):
        tot[c] += 1; secs.add(sector[n["account_name"]])
add("competitor mentions by industry", list(tot.values()) + [sum(tot.values())], sorted(secs))
for q, lo, hi in [("most common objections this year", dt.date(2025, 1, 1), AS_OF), ("What were the most common objections in 2024?", dt.date(2024, 1, 1), dt.date(2024, 12, 31))]:
    cats = collections.Counter(c for n in notes if lo <= n["date"] <= hi for c in objections(n["comment"]))
    top = cats.most_common(3)
    add(q, [sum(cats.values())] + [k for _, k in top], [c for c, _ in top])

data = {
    "description": "Deal copilot and competitive intelligence over the demo tenant (as-of 2025-06-30): call-note summaries, objections, "
    "competitors per account and in the last call, next best actions, follow-up e-mail templates, competitor heatmaps by region and "
    "industry, objection patterns. Expected figures computed from the CSV files by agents/evals/make_copilot_eval.py.",
    "as_of": "2025-06-30",
    "questions": Q,
}
(Path(__file__).parent / "copilot.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=130))
print(len(Q), "questions")
