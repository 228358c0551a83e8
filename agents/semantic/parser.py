"""The deterministic offline question parser: question -> :class:`SemanticQuery`.

In the spirit of ThoughtSpot's search tokens and Power BI Q&A's linguistic schema, every
business word comes from the tenant's semantic model (metric and dimension names, labels and
synonyms, the dimensions' value aliases) and from the distinct values of the dimensions with
``link_values: true`` (loaded by the caller). The only words written here are English grammar:
question words and filler, ranking words, breakdown words ("by", "per", "for each"), period
words (``agents.timeperiods``) and the stage-group words won/lost/open/closed, which select the
model's metric variant (won deals, lost deals, open pipeline) through its ``stages`` section.

Honesty (issue 8): every word of the question is accounted for. A word is either used (listed in
``ParseResult.matched`` with what it meant), filler that does not change the result
(``unused_words``), or a part that would change the result but maps to nothing in the model
(``unmapped``: "campaigns", "churn", a capitalised name not among any dimension's values). The
caller declines when ``unmapped`` is not empty; it never answers another question.

How a question is read, in order:

1. periods and period-over-period phrases (``agents.timeperiods.find_periods`` /
   ``find_comparison``) take their words first;
2. the remaining words are matched against one phrase table (model words, values, grammar),
   longest phrase first, exact and case-insensitive; possessives are stripped ("Darcel's");
3. words still unknown are tried as a unique first or last name or the first word of a value
   ("Darcel", "Schlecht", "Acme"; capitalised unless the question is all lower case), then
   fuzzily (rapidfuzz ``ratio`` >= 88 on word n-grams against values and their space-free
   spellings; >= 90 against model phrases);
4. grammar assembles the query: metrics (with stage variants), breakdowns, filters (``in`` /
   ``not_in``), period and comparison, ordering and limit; a question with no metric of its own
   that starts like a follow-up ("now", "and", "what about", "same", "only") reuses ``previous``.

Readings chosen where English is ambiguous (each is also said in ``notes``):

- two named periods ("compare Q1 and Q2 2025", "2023 vs 2024"): the later is ``period``, the
  earlier ``compare``; "vs last quarter" alone: this quarter (to date) vs the same days of last
  quarter; "vs the same quarter last year", "year over year", "QoQ", "vs previous period" with no
  period named: the current quarter/year/... to date, shifted (same length);
- "top"/"bottom" with no number: 10 rows; a superlative with a singular "which X" or "who": 1
  row; a comparative ("better", "higher", "rank", "sort"): ordered, every row kept; "best" and
  "worst" follow the metric's ``higher_is_better``;
- ranking with no metric ("top accounts"): the model's first won-stage sum metric (closed-won
  revenue in the demo model);
- "percentage of deals won" is the ratio metric whose numerator counts those rows (win rate);
  "value of open deals" the sum metric over the same rows (pipeline value); when the model has
  none, the phrase is unmapped;
- a plural dimension word on its own ("reps in the East office") is a breakdown; a singular one
  ("for the office") is noted and not used; "A and B"/"A or B" of one dimension is one ``in``
  filter, "A vs B"/"compare A and B" also groups by that dimension;
- follow-ups: metrics replace metrics, a breakdown or grain replaces both, a filter replaces
  the previous filter on the same dimension, a period replaces the period (a previous comparison
  is shifted along).

Lookups are built once per (model, values) and cached (:func:`lexicon_for`); a parse takes well
under a millisecond on the demo tenant.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

from rapidfuzz import fuzz, process

from agents.semantic.query import Filter, OrderBy, SemanticQuery, TimeRange
from agents.timeperiods import (
    Period,
    comparison_period,
    current_period,
    find_comparison,
    find_periods,
    range_label,
    shift_period,
)
from knowledge.semantic_model import SemanticModelSpec

VALUE_CUTOFF = 88  # rapidfuzz ratio (0-100) for a value; high: a near-miss name is declined, not guessed
PHRASE_CUTOFF = 90  # for a metric or dimension word ("revnue")
MIN_FUZZY_CHARS = 5  # shorter strings are matched exactly only
TOP_DEFAULT = 10  # "top accounts" with no number (ThoughtSpot's default for "top")
MAX_PHRASE = 7

# -- English grammar (the only words written here) ---------------------------------------------
_GRAMMAR: dict[str, str] = {}


def _g(tag: str, *phrases: str) -> None:
    for phrase in phrases:
        _GRAMMAR[phrase] = tag


_g("count", "how many", "number of", "count of", "count", "total number of", "no of", "# of", "#")
_g("by", "by", "per", "for each", "for every", "across", "across all", "broken down by", "break down by",
   "breakdown by", "breakdown per", "split by", "split per", "grouped by", "group by", "segmented by",
   "sliced by", "in each", "each", "every", "by each", "for all", "among", "broken out by", "break out by")
_g("breakdown", "breakdown", "split", "distribution", "mix", "break down", "break out", "breakout")
_g("which", "which", "what")
_g("who", "who", "whom", "whose")
_g("top", "top")
_g("bottom", "bottom")
_g("desc", "highest", "most", "largest", "biggest", "greatest", "max", "maximum", "longest", "top performing",
   "leading")
_g("asc", "lowest", "least", "smallest", "fewest", "min", "minimum", "shortest")
_g("best", "best", "strongest", "best performing", "highest performing", "fastest")
_g("worst", "worst", "weakest", "worst performing", "lowest performing", "poorest", "slowest")
# comparatives order the rows but keep them all ("who has the better win rate": both shown)
_g("cmp_desc", "higher", "more", "larger", "bigger", "greater", "longer", "rank", "ranked", "ranking", "rank by", "sort",
   "sorted", "sort by", "sorted by", "order by", "ordered by", "rank them", "sort them")
_g("pct_of", "percentage of", "percent of", "% of", "proportion of", "fraction of", "ratio of", "share of", "rate of")
_g("value_of", "value of", "total value of", "amount of", "worth of", "sum of", "dollar value of", "total amount of")
_g("cmp_asc", "lower", "less", "fewer", "smaller", "shorter")
_g("cmp_best", "better", "stronger", "faster")
_g("cmp_worst", "worse", "weaker", "slower")
_g("vs", "vs", "versus", "compared to", "compared with", "against", "relative to")
_g("and", "and", "or", "&", "as well as", "plus")
_g("excl", "excluding", "exclude", "except", "except for", "other than", "apart from", "besides", "without",
   "outside", "outside of", "not in", "not from", "not for",
   "not including", "but not", "not", "excluded")
_g("compare", "compare", "comparing", "comparison", "stack up", "stacks up", "stacked up", "stack")
_g("grain:month", "monthly", "month by month", "each month", "per month", "trend", "trends", "trending",
   "over time", "time series", "evolution")
_g("grain:quarter", "quarterly", "quarter by quarter", "each quarter", "per quarter")
_g("grain:year", "yearly", "annual", "annually", "year by year", "each year", "per year")
_g("grain:week", "weekly", "week by week", "each week", "per week")
_g("grain:day", "daily", "day by day", "each day", "per day")
_g("unit:month", "month", "months")
_g("unit:quarter", "quarter", "quarters")
_g("unit:year", "year", "years")
_g("unit:week", "week", "weeks")
_g("unit:day", "day", "days", "date", "dates")
_g("follow", "what about", "how about", "same for", "same", "now", "only", "just", "instead", "also")
_g("perf", "performance", "perform", "performs", "performing", "performed", "performer", "performers", "doing",
   "results", "numbers")

_STAGE_WORDS = {
    "won": "won", "win": "won", "winning": "won", "wins": "won",
    "lost": "lost", "lose": "lost", "losing": "lost",
    "open": "open", "opened": "open", "active": "open", "pending": "open", "in progress": "open",
    "closed": "closed", "close": "closed", "closing": "closed",
}
# Verbs some models list as a metric synonym ("booked" = won revenue): with another metric in the
# question they mean "won" ("deals booked"), not a second metric.
_STAGE_VERBS = {"booked": "won", "book": "won", "books": "won", "booking": "won", "sold": "won", "sell": "won",
                "sells": "won", "selling": "won"}

# Words that never change the result (reported as "words not used").
_FILLER = set(
    """
    a an the this that these those there here it its it's i me my mine we us our ours you your yours they them their
    he she his her him is are was were be been being am do does did done have has had having can could would
    should will shall may might must let lets please kindly thanks thank hey hi hello ok okay so far currently
    currently right overall total totals all of in on at for to from with about as into onto within during through
    show shown give gives list tell display get got find see know want need like look looking pull fetch bring
    provide report summarize summarise summary describe calculate compute return run make made generate generated
    booked did make makes making achieve achieved achieve bring brought produce produced bring deliver delivered
    team's s what's whats how much value values amount figure figures data info information details overview
    number numbers stats statistics metric metrics kpi kpis measure view breakdown sorting
    rankings list listed then also again too just really actually exactly approximately roughly
    about around basically currently presently any some many much very well good great up down out over under
    has have having get getting go going went come coming recent ever yet still already
    one ones two both either each other else their themselves ourselves company's across
    look looks looked seem seems i'd i'm we're we've let's going go brings bringing brought money dollars dollar usd
    log logged logging record recorded enter entered write wrote written track tracked hit reach reached
    , . ? ! : ; - ' "
    """.split()
)
# Words that narrow the rows ("new customers", "active accounts") without naming anything the model
# has: neither filler (dropping them would change the result) nor the first word of a name ("new"
# is not "The New York Inquirer"); left unknown, so the question is declined naming them.
_QUALIFIERS = {"new", "latest", "current", "old", "existing", "returning", "active", "inactive", "former", "churned", "lapsed"}
# Grammar words that only join or frame a question; any other grammar word left without a role
# (a ranking, exclusion, period unit or time grain that applied to nothing) would change the
# result if it meant what it says, so it is named as unmapped, never dropped.
_HARMLESS_GRAMS = {"by", "and", "which", "who", "follow", "perf", "count", "breakdown", "compare", "pct_of", "value_of"}
# words that look like content but read as grammar here ("why" asks for a reason: not a figure)
_UNANSWERABLE = {"why"}
_AUX = {"did", "do", "does", "we", "they", "you", "i", "were", "was", "have", "has", "had", "will", "to"}
_GLUE_NOUNS = {"value", "values", "rate", "rates", "score", "scores", "amount", "level", "levels", "cost", "costs"}
_PERSON_WORDS = ("owner", "rep", "sales rep", "agent", "sales agent", "salesperson", "seller", "account executive")
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "fifty": 50, "hundred": 100}
_FOLLOW_START = ("now", "and", "same", "only", "just", "also", "then", "instead", "ok", "okay", "what about",
                 "how about", "same for")

_TOKEN_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*['’]?|[&#%$]")


@dataclass
class ParseResult:
    """What the parser understood.

    ``query``: the semantic query, None when nothing answerable was recognised (no metric and no
    previous query to continue). ``unmapped``: question parts that would change the result but map
    to nothing in the model (the caller declines naming them). ``unused_words``: words not used that
    do not change the result (filler). ``matched``: ``(question text, meaning)`` pairs for the
    "Interpreted as" line. ``notes``: readings worth telling the user (fuzzy matches, periods cut
    at the as-of date, ambiguous values, defaults applied).
    """

    query: SemanticQuery | None
    unmapped: list[str] = field(default_factory=list)
    unused_words: list[str] = field(default_factory=list)
    matched: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# -- lexicon: built once per (model, values) ----------------------------------------------------
@dataclass(frozen=True)
class _Entry:
    kind: str  # metric | dim | tdim | value | stage | gram
    name: str  # metric/dimension name, stage group, grammar tag
    value: str = ""  # canonical value (kind value)
    how: str = "exact"  # exact | alias | partial | fuzzy


@dataclass
class _Lexicon:
    phrases: dict[tuple[str, ...], list[_Entry]]
    partial: dict[str, list[_Entry]]
    value_keys: list[str]
    value_entries: list[list[_Entry]]
    phrase_keys: list[str]
    phrase_entries: list[list[_Entry]]
    stems: dict[str, list[_Entry]]
    dim_tokens: set[str]
    who_dim: str | None
    default_metric: str | None
    stage_dim: str | None
    dim_rank: dict[str, int]


def _tokens(text: str) -> list[str]:
    out = []
    for m in _TOKEN_RE.finditer(text):
        norm = m.group().lower().replace("’", "'")
        if norm.endswith("'s"):
            norm = norm[:-2]
        norm = norm.rstrip("'")
        if norm.endswith("n't"):
            norm = "not"
        if norm:
            out.append(norm)
    return out


def _stems(word: str) -> set[str]:
    """Light English stems for matching model words: the word without one of the suffixes ing,
    ed, ers, er, es, s (at least 4 letters stay); "headquartered" and "headquarters" share
    "headquarter"."""
    out = {word}
    for suffix in ("ing", "ed", "ers", "er", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            out.add(word[: -len(suffix)])
    return out


def _key(text: str) -> tuple[str, ...]:
    return tuple(_tokens(text))


def _add(table: dict, key: tuple[str, ...], entry: _Entry) -> None:
    if not key:
        return
    entries = table.setdefault(key, [])
    if entry not in entries:
        entries.append(entry)


def _build(model: SemanticModelSpec, values: Mapping[str, Sequence[str]]) -> _Lexicon:
    phrases: dict[tuple[str, ...], list[_Entry]] = {}
    for phrase, tag in _GRAMMAR.items():
        _add(phrases, _key(phrase) or (phrase,), _Entry("gram", tag))
    for name, metric in model.metrics.items():
        for phrase in (name.replace("_", " "), metric.label, *metric.synonyms):
            _add(phrases, _key(phrase), _Entry("metric", name))
    for name, dim in model.dimensions.items():
        for phrase in (name.replace("_", " "), dim.label, *dim.synonyms):
            _add(phrases, _key(phrase), _Entry("dim", name))
    for name, tdim in model.time_dimensions.items():
        for phrase in (name.replace("_", " "), tdim.label, *tdim.synonyms):
            _add(phrases, _key(phrase), _Entry("tdim", name))
    stage_dim = model.stages.dimension if model.stages else None
    if model.stages:
        for word, group in _STAGE_WORDS.items():
            if model.stages.values(group):
                _add(phrases, _key(word), _Entry("stage", group))
        for word, group in _STAGE_VERBS.items():
            _add(phrases, _key(word), _Entry("stage", group))
    dim_tokens = {t for k, es in phrases.items() for e in es if e.kind == "dim" for t in k}
    lexicon_words = {t for k in phrases for t in k}

    value_table: dict[tuple[str, ...], list[_Entry]] = {}
    partial: dict[str, list[_Entry]] = {}
    fuzzy: dict[str, list[_Entry]] = {}
    for dim_name, dim in model.dimensions.items():
        if not dim.link_values or dim.type != "string" or dim_name not in values:
            continue
        canon = [str(v) for v in values[dim_name] if v is not None and str(v).strip()]
        spellings = [(v, v, "exact") for v in canon]
        spellings += [(raw, can, "alias") for raw, can in dim.aliases.items()]
        for text, can, how in spellings:
            key = _key(text)
            if not key:
                continue
            if dim_name == stage_dim and " ".join(key) in _STAGE_WORDS:
                continue  # "won"/"lost"/"open" select metric variants
            entry = _Entry("value", dim_name, can, how)
            _add(value_table, key, entry)
            joined = "".join(key)
            if len(key) > 1:
                _add(value_table, (joined,), _Entry("value", dim_name, can, "alias"))
            if len(joined) >= MIN_FUZZY_CHARS:
                fuzzy.setdefault(" ".join(key), [])
                if entry not in fuzzy[" ".join(key)]:
                    fuzzy[" ".join(key)].append(entry)
            words = text.split()
            if how == "exact" and len(words) > 1:
                for w in words:
                    wk = _key(w)
                    if len(wk) == 1 and len(wk[0]) >= 3 and wk[0].isalpha() and wk[0] not in _FILLER \
                            and wk[0] not in _QUALIFIERS and wk[0] not in lexicon_words and wk[0] not in _STAGE_WORDS:
                        partial.setdefault(wk[0], [])
                        if entry not in partial[wk[0]]:
                            partial[wk[0]].append(_Entry("value", dim_name, can, "partial"))
    # a partial word must name one value (the same name may be in two dimensions: Acme as an
    # account and as a parent company; the ambiguity is resolved later)
    partial = {w: es for w, es in partial.items() if len({e.value for e in es}) == 1}
    for key, entries in value_table.items():
        for e in entries:
            _add(phrases, key, e)
    phrase_keys, phrase_entries = [], []
    stems: dict[str, list[_Entry]] = {}
    for key, entries in phrases.items():
        if len(key) == 1 and key[0].isalpha():
            for e in entries:
                if e.kind in ("metric", "dim", "tdim"):
                    for stem in _stems(key[0]):
                        stems.setdefault(stem, [])
                        if e not in stems[stem]:
                            stems[stem].append(e)
        content = [e for e in entries if e.kind in ("metric", "dim")]
        joined = " ".join(key)
        if content and len(joined) >= MIN_FUZZY_CHARS:
            phrase_keys.append(joined)
            phrase_entries.append(content)

    who_dim = None
    for name, dim in model.dimensions.items():
        words = {name.replace("_", " "), dim.label.lower(), *(s.lower() for s in dim.synonyms)}
        if any(p in words for p in _PERSON_WORDS):
            who_dim = name
            break
    default_metric = None
    for name, metric in model.metrics.items():
        measure = model.measures.get(metric.measure or "")
        if measure and measure.agg == "sum" and measure.stage_group == "won" and not metric.transform:
            default_metric = name
            break
    if default_metric is None and model.metrics:
        default_metric = next(iter(model.metrics))
    dim_rank = {}
    for i, (name, dim) in enumerate(model.dimensions.items()):
        entity = model.entities.get(dim.entity)
        is_display = entity is not None and dim.column is not None and entity.display == dim.column
        dim_rank[name] = i - (1000 if is_display else 0)
    return _Lexicon(
        phrases=phrases,
        partial=partial,
        value_keys=list(fuzzy),
        value_entries=list(fuzzy.values()),
        phrase_keys=phrase_keys,
        phrase_entries=phrase_entries,
        stems={k: v for k, v in stems.items() if len({e.kind for e in v}) == 1},
        dim_tokens=dim_tokens,
        who_dim=who_dim,
        default_metric=default_metric,
        stage_dim=stage_dim,
        dim_rank=dim_rank,
    )


_BY_ID: OrderedDict = OrderedDict()
_BY_CONTENT: OrderedDict = OrderedDict()
_CACHE_SIZE = 16


def lexicon_for(model: SemanticModelSpec, values: Mapping[str, Sequence[str]]) -> _Lexicon:
    """The phrase table for ``(model, values)``, built once and cached: first by object identity
    (the cache keeps the objects alive so an id is never reused), then by content hash (a model
    re-parsed from the same document, values reloaded); at most 16 of each (LRU)."""
    id_key = (id(model), id(values))
    hit = _BY_ID.get(id_key)
    if hit is not None and hit[0] is model and hit[1] is values:
        _BY_ID.move_to_end(id_key)
        return hit[2]
    digest = hashlib.sha1(model.model_dump_json().encode())
    for dim in sorted(values):
        digest.update(json.dumps([dim, [str(v) for v in values[dim]]]).encode())
    content_key = digest.hexdigest()
    lexicon = _BY_CONTENT.get(content_key)
    if lexicon is None:
        lexicon = _build(model, values)
        _BY_CONTENT[content_key] = lexicon
        while len(_BY_CONTENT) > _CACHE_SIZE:
            _BY_CONTENT.popitem(last=False)
    _BY_ID[id_key] = (model, values, lexicon)
    while len(_BY_ID) > _CACHE_SIZE:
        _BY_ID.popitem(last=False)
    return lexicon


# Business shorthand people type in Slack, read as the words they stand for before parsing (English
# and sales usage, not model vocabulary: the model's own synonyms cover its metrics and values).
_SHORTHAND = [
    (re.compile(r"\bqtrs\b", re.I), "quarters"),
    (re.compile(r"\bqtr\b", re.I), "quarter"),
    (re.compile(r"\byrs\b", re.I), "years"),
    (re.compile(r"\byr\b", re.I), "year"),
    (re.compile(r"\bavg\b\.?", re.I), "average"),
    (re.compile(r"\bopps\b", re.I), "opportunities"),
    (re.compile(r"\bopp\b", re.I), "opportunity"),
    (re.compile(r"\bw/o\b", re.I), "without"),  # before "w/", which would read it as "with o"
    (re.compile(r"\bw/(?!w\b)(?=\s|\w)", re.I), "with "),  # not "w/w" (week over week, a comparison)
    (re.compile(r"\bmgr\b", re.I), "manager"),
    (re.compile(r"\bmgrs\b", re.I), "managers"),
]


def expand_shorthand(text: str) -> tuple[str, list[str]]:
    """``(text with shorthand expanded, notes)``: "qtr" -> "quarter", "avg" -> "average", "opps" ->
    "opportunities", "w/" -> "with", "yr" -> "year", "mgr" -> "manager"; each expansion is noted
    so the "Interpreted as" line shows how the question was read."""
    notes: list[str] = []
    for pattern, word in _SHORTHAND:
        found = pattern.search(text)
        if found:
            notes.append(f"'{found.group().strip()}' read as '{word.strip()}'")
            text = pattern.sub(word, text)
    return text, notes


# -- question tokens and items ------------------------------------------------------------------
@dataclass
class _Tok:
    raw: str
    norm: str
    start: int
    end: int
    possessive: bool
    used: bool = False  # consumed by a period phrase


@dataclass
class _Item:
    i: int  # first token
    j: int  # one past the last token
    entries: list[_Entry]
    kind: str = ""  # chosen: metric dim tdim value stage gram filler number unknown
    name: str = ""
    role: str = ""  # what it ended up doing; "" = not used
    meaning: str = ""
    extra: dict = field(default_factory=dict)


class _Question:
    def __init__(self, text: str):
        self.text = text
        self.toks: list[_Tok] = []
        for m in _TOKEN_RE.finditer(text):
            raw = m.group()
            norm = raw.lower().replace("’", "'")
            possessive = norm.endswith("'s") or (norm.endswith("'") and len(norm) > 1)
            if norm.endswith("'s"):
                norm = norm[:-2]
            norm = norm.rstrip("'")
            if norm.endswith("n't"):
                norm = "not"
            if not norm:
                continue
            self.toks.append(_Tok(raw.rstrip("'’"), norm, m.start(), m.end(), possessive))
        self.lower_only = not any(c.isupper() for c in text)

    def span_text(self, i: int, j: int) -> str:
        text = self.text[self.toks[i].start:self.toks[j - 1].end]
        return re.sub(r"['’]s$", "", text)

    def mark(self, span: tuple[int, int]) -> list[int]:
        hit = [k for k, t in enumerate(self.toks) if t.start < span[1] and span[0] < t.end]
        for k in hit:
            self.toks[k].used = True
        return hit


def _scan(q: _Question, lex: _Lexicon) -> list[_Item]:
    items: list[_Item] = []
    n = len(q.toks)
    i = 0
    while i < n:
        if q.toks[i].used:
            i += 1
            continue
        found = None
        for length in range(min(MAX_PHRASE, n - i), 0, -1):
            if any(q.toks[k].used for k in range(i, i + length)):
                continue
            key = tuple(q.toks[k].norm for k in range(i, i + length))
            entries = lex.phrases.get(key)
            if entries:
                found = _Item(i, i + length, list(entries))
                break
        if found is None:
            found = _Item(i, i + 1, [])
        items.append(found)
        i = found.j
    return items


def _is_number(norm: str) -> bool:
    return norm.isdigit() or norm in _NUMBER_WORDS


def _number(norm: str) -> int:
    return int(norm) if norm.isdigit() else _NUMBER_WORDS[norm]


def _link_unknown(q: _Question, items: list[_Item], lex: _Lexicon, notes: list[str]) -> list[_Item]:
    """Try unknown words as unique partial names, then fuzzily; returns the new item list."""
    out: list[_Item] = []
    k = 0
    while k < len(items):
        item = items[k]
        if item.entries or not _content_token(q.toks[item.i]):
            out.append(item)
            k += 1
            continue
        run = [item]
        while k + len(run) < len(items) and not items[k + len(run)].entries and _content_token(q.toks[items[k + len(run)].i]):
            run.append(items[k + len(run)])
        out.extend(_link_run(q, run, lex, notes))
        k += len(run)
    return out


def _acronym(tok: _Tok) -> bool:
    """An all-capitals word such as "US" or "IT": a name, never filler even if its lower case is."""
    return len(tok.raw) >= 2 and tok.raw.isalpha() and tok.raw.isupper()


def _content_token(tok: _Tok) -> bool:
    return not tok.used and (tok.norm not in _FILLER or _acronym(tok)) and not _is_number(tok.norm) and tok.norm not in _UNANSWERABLE


def _link_run(q: _Question, run: list[_Item], lex: _Lexicon, notes: list[str]) -> list[_Item]:
    out: list[_Item] = []
    p = 0
    while p < len(run):
        tok = q.toks[run[p].i]
        # 1. fuzzy over two or more words first ("Darcel Schlect"), longest first
        hit = _fuzzy(q, run, p, lex, notes, min_len=2)
        if hit is not None:
            out.append(hit)
            p += hit.extra["length"]
            continue
        # 2. a unique first/last name or first word of a value ("Darcel", "Acme"), extended over
        #    following words that start the value's next words ("Acme Corp")
        entries = lex.partial.get(tok.norm)
        if entries and (tok.raw[:1].isupper() or q.lower_only):
            value_words = _key(entries[0].value)
            pos = value_words.index(tok.norm) if tok.norm in value_words else -1
            length = 1
            while pos >= 0 and p + length < len(run) and pos + length < len(value_words):
                nxt = q.toks[run[p + length].i].norm
                if len(nxt) >= 2 and value_words[pos + length].startswith(nxt):
                    length += 1
                else:
                    break
            new = _Item(run[p].i, run[p + length - 1].j, list(entries))
            new.extra["partial"] = True
            out.append(new)
            p += length
            continue
        # 3. the same stem as a model word ("headquartered" ~ "headquarters")
        stem_entries = next((lex.stems[x] for x in sorted(_stems(tok.norm), key=len, reverse=True) if x in lex.stems), None)
        if stem_entries:
            new = _Item(run[p].i, run[p].j, list(stem_entries))
            out.append(new)
            p += 1
            continue
        # 4. one word, fuzzily
        hit = _fuzzy(q, run, p, lex, notes, min_len=1, max_len=1)
        if hit is not None:
            out.append(hit)
            p += 1
            continue
        out.append(run[p])
        p += 1
    return out


def _fuzzy(q: _Question, run: list[_Item], p: int, lex: _Lexicon, notes: list[str], *, min_len: int, max_len: int = 4) -> _Item | None:
    """The longest n-gram of ``run`` from ``p`` (``min_len``..``max_len`` words) that fuzzily
    matches a value (ratio >= VALUE_CUTOFF, also without spaces) or a model phrase (>= PHRASE_CUTOFF)."""
    for length in range(min(max_len, len(run) - p), min_len - 1, -1):
        words = [q.toks[run[p + x].i].norm for x in range(length)]
        text = " ".join(words)
        if len(text) < MIN_FUZZY_CHARS or (length == 1 and not text.isalpha()):
            continue
        best = process.extractOne(text, lex.value_keys, scorer=fuzz.ratio, score_cutoff=VALUE_CUTOFF)
        if best is None and length > 1:
            best = process.extractOne("".join(words), lex.value_keys, scorer=fuzz.ratio, score_cutoff=VALUE_CUTOFF,
                                      processor=lambda s: s.replace(" ", ""))
        if best is not None:
            entries = [replace(e, how="fuzzy") for e in lex.value_entries[best[2]]]
            new = _Item(run[p].i, run[p + length - 1].j, entries)
            notes.append(f"'{q.span_text(new.i, new.j)}' read as {_dim_word(entries[0].name)} '{entries[0].value}'")
        else:
            phrase = process.extractOne(text, lex.phrase_keys, scorer=fuzz.ratio, score_cutoff=PHRASE_CUTOFF)
            if phrase is None:
                continue
            new = _Item(run[p].i, run[p + length - 1].j, list(lex.phrase_entries[phrase[2]]))
            notes.append(f"'{q.span_text(new.i, new.j)}' read as '{phrase[0]}'")
        new.extra["fuzzy"] = True
        new.extra["length"] = length
        return new
    return None


def _a(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun


def _dim_word(name: str) -> str:
    return name.replace("_", " ")


# -- the grammar -------------------------------------------------------------------------------
def _kinds(item: _Item) -> set[str]:
    return {e.kind for e in item.entries}


def _gram(item: _Item) -> str:
    return next((e.name for e in item.entries if e.kind == "gram"), "")


def _plural(q: _Question, item: _Item, lex: _Lexicon) -> bool:
    word = q.toks[item.j - 1].norm
    if not word.endswith("s") or word.endswith("ss"):
        return False
    for stem in (word[:-1], word[:-2], word[:-3] + "y"):
        if stem in lex.dim_tokens:
            return True
    return False


def _variant(model: SemanticModelSpec, metric: str, group: str) -> str | None:
    """The model's metric measuring what ``metric`` measures restricted to stage ``group`` (won
    deals for opportunities + won); ``metric`` itself when it already is (closed covers won and
    lost); None when the model has no such metric."""
    spec = model.metrics[metric]
    if spec.is_ratio:
        return metric if group == "closed" else None
    base = model.measures[spec.measure]
    if base.stage_group == group or (group == "closed" and base.stage_group in ("won", "lost")):
        return metric
    for name, m in model.measures.items():
        if (m.entity, m.agg, m.dimension, m.filters, m.stage_group) == (base.entity, base.agg, base.dimension, base.filters, group):
            for mname, mspec in model.metrics.items():
                if mspec.measure == name and mspec.transform == spec.transform:
                    return mname
    return None


def _count_metric(model: SemanticModelSpec, group: str | None) -> str | None:
    """The model's count metric over the stage dimension's entity restricted to ``group``."""
    if model.stages is None:
        return None
    entity = model.dimensions[model.stages.dimension].entity
    for name, spec in model.metrics.items():
        m = model.measures.get(spec.measure or "")
        if m and m.agg == "count" and m.entity == entity and m.stage_group == group and not spec.transform and not m.filters:
            return name
    return None


def _tr(period: Period, time_dimension: str | None = None) -> TimeRange:
    return TimeRange(start=period.start, end=period.end, label=period.label, time_dimension=time_dimension, complete=period.complete)


def _period_note(text: str, period: Period) -> str:
    note = f"'{text}' = {period.start.isoformat()} to {period.end.isoformat()}"
    return note + (" (to date)" if not period.complete else "")


def parse_question(
    text: str,
    *,
    model: SemanticModelSpec,
    values: Mapping[str, Sequence[str]],
    as_of: dt.date,
    previous: SemanticQuery | None = None,
) -> ParseResult:
    """Parse ``text`` into a :class:`ParseResult` (see the module docstring for the rules).

    ``values`` maps a dimension name to its distinct canonical values (after the model's
    aliases); ``as_of`` anchors relative periods (calendar quarters); ``previous`` is the last
    turn's query in the same thread, reused by follow-ups. Never raises on any text; an empty or
    unintelligible question gives ``query=None``.
    """
    lex = lexicon_for(model, values)
    text, notes = expand_shorthand(text)
    q = _Question(text)
    matched: list[tuple[int, str, str]] = []  # (position, text, meaning)

    # 1. periods and comparisons
    periods = find_periods(text, as_of=as_of)
    comparison = find_comparison(text)
    for pm in periods:
        q.mark(pm.span)
    if comparison:
        q.mark(comparison.span)

    # 2-3. phrases, then partial names and fuzzy matches
    items = _scan(q, lex)
    items = _link_unknown(q, items, lex, notes)
    for it in items:
        if it.j - it.i == 1 and q.toks[it.i].norm in _FILLER and not _acronym(q.toks[it.i]):
            # "show us": a filler word is a value ("US" = United States) only in capitals
            it.entries = [e for e in it.entries if e.kind != "value"]
        if not it.entries:
            norm = q.toks[it.i].norm
            if q.toks[it.i].used:
                it.kind = "period"
            elif _is_number(norm):
                it.kind = "number"
            elif norm in _FILLER and not _acronym(q.toks[it.i]):
                it.kind = "filler"
            else:
                it.kind = "unknown"
        else:
            kinds = _kinds(it)
            it.kind = "gram" if kinds == {"gram"} else ""

    def nxt(k: int, step: int = 1) -> int:
        """Index of the next non-filler item from k (exclusive) in direction step, or -1."""
        k += step
        while 0 <= k < len(items):
            if items[k].kind != "filler":
                return k
            k += step
        return -1

    def item_text(it: _Item) -> str:
        return q.span_text(it.extra.get("lead", it.i), it.j)

    follow_cue = False
    first_words = [t.norm for t in q.toks[:2]]
    if first_words and (first_words[0] in _FOLLOW_START or " ".join(first_words) in _FOLLOW_START):
        follow_cue = True

    # roles of multi-meaning items: resolve grammar vs model words by kind preference
    def has(it: _Item, kind: str) -> bool:
        return any(e.kind == kind for e in it.entries)

    # -- choose a kind for each item with model entries
    metric_items = [k for k, it in enumerate(items) if has(it, "metric")]
    for k, it in enumerate(items):
        if it.kind:
            continue
        prev = nxt(k, -1)
        if prev >= 0 and items[prev].kind == "number":
            prev = nxt(prev, -1)
        prev_tag = _gram(items[prev]) if prev >= 0 else ""
        following = nxt(k, 1)
        next_tag = _gram(items[following]) if following >= 0 else ""
        if has(it, "stage") and not has(it, "metric"):
            it.kind = "stage"
            group = next(e.name for e in it.entries if e.kind == "stage")
            before = q.toks[it.i - 1].norm if it.i > 0 else ""
            if group == "open" and before in _AUX:
                # "did we open": the verb (created), not the open stage
                tdim = next((e for e in lex.phrases.get(("opened",), []) if e.kind == "tdim"), None)
                if tdim is not None:
                    it.kind, it.name = "tdim", tdim.name
                    continue
                it.kind = "filler"
                continue
        elif has(it, "metric") and has(it, "dim"):
            if prev_tag in ("by", "which", "top", "bottom", "desc", "asc", "best", "worst", "compare") or next_tag == "breakdown":
                it.kind = "dim"
            elif prev_tag == "count":
                it.kind = "metric"
            elif any(has(items[m], "metric") and not has(items[m], "dim") for m in metric_items if m != k):
                it.kind = "dim"
            else:
                it.kind = "metric"
        elif has(it, "metric"):
            it.kind = "metric"
        elif has(it, "value") and (has(it, "dim") or has(it, "tdim")):
            it.kind = "dim" if prev_tag == "by" else "value"
        elif has(it, "dim"):
            it.kind = "dim"
        elif has(it, "tdim"):
            it.kind = "tdim"
        elif has(it, "value"):
            it.kind = "value"
        elif has(it, "stage"):
            it.kind = "stage"
        else:
            it.kind = "gram"
        if it.kind in ("metric", "dim", "tdim", "stage"):
            it.name = next(e.name for e in it.entries if e.kind == it.kind)

    unmapped_extra: list[tuple[int, str]] = []

    # "how many customers": a count of a dimension's entity is that entity's count metric
    for k, it in enumerate(items):
        if it.kind == "gram" and _gram(it) == "count":
            f = nxt(k)
            if f < 0 or items[f].kind != "dim":
                continue
            dim = model.dimensions[items[f].name]
            entity = dim.entity
            spec_e = model.entities[entity]
            names_rows = dim.column is not None and dim.column in (spec_e.display, spec_e.primary_key)
            count = names_rows and next((name for name, spec in model.metrics.items() if spec.measure and not spec.transform
                          and model.measures[spec.measure].entity == entity and model.measures[spec.measure].agg == "count"
                          and not model.measures[spec.measure].stage_group and not model.measures[spec.measure].filters), None)
            if count:
                items[f].kind, items[f].name = "metric", count
            else:
                it.role = items[f].role = "unmapped"
                unmapped_extra.append((it.i, q.span_text(it.i, items[f].j)))

    # -- metrics, with stage variants
    metrics: list[str] = []
    metric_pos: dict[str, int] = {}
    verb_items = [k for k, it in enumerate(items) if it.kind == "metric" and q.toks[it.i].norm in _STAGE_VERBS and it.j - it.i == 1]
    real_metric_items = [k for k, it in enumerate(items) if it.kind == "metric" and k not in verb_items]
    if real_metric_items:
        for k in verb_items:
            items[k].kind, items[k].name = "stage", _STAGE_VERBS[q.toks[items[k].i].norm]
    # "average sales cycle for won deals": a count of deals after "for"/"of" qualifies the
    # metric before it (its stage group), it is not a second metric
    metric_ks = [k for k, it in enumerate(items) if it.kind == "metric"]
    for k in metric_ks[1:]:
        it = items[k]
        measure = model.measures.get(model.metrics[it.name].measure or "")
        before = q.toks[it.i - 1].norm if it.i > 0 else ""
        earlier = [m for m in metric_ks if m < k and (model.metrics[items[m].name].is_ratio
                   or model.measures[model.metrics[items[m].name].measure].agg != "count")]
        prev_item = nxt(k, -1)
        after_value = prev_item >= 0 and items[prev_item].kind == "value"
        if measure is not None and measure.agg == "count" and (before in ("for", "of", "on", "among", "across", "in") or after_value) \
                and earlier \
                and model.stages is not None and measure.entity == model.dimensions[model.stages.dimension].entity:
            if measure.stage_group:
                it.kind, it.name = "stage", measure.stage_group
            else:
                it.kind, it.role, it.meaning = "gram", "qualifier", ""
    metric_ks = [k for k, it in enumerate(items) if it.kind == "metric"]
    stage_ks = [k for k, it in enumerate(items) if it.kind == "stage"]
    stage_filter: tuple[str, list[str]] | None = None
    for sk in stage_ks:
        group = items[sk].name
        if metric_ks:
            target = min(metric_ks, key=lambda m: (abs(m - sk), m < sk))
            base = items[target].name
            variant = _variant(model, base, group)
            if variant is not None:
                if variant != base:
                    items[target].name = variant
                    items[target].extra["stage_word"] = item_text(items[sk])
                items[sk].role = "stage"
                items[sk].meaning = f"{group} ({model.metric_label(variant)})"
            else:
                spec = model.metrics[base]
                measure = model.measures.get(spec.measure or "")
                stage_entity = model.dimensions[model.stages.dimension].entity if model.stages else None
                if measure is not None and measure.stage_group is None and measure.entity == stage_entity:
                    stage_filter = (model.stages.dimension, model.stage_values(group))
                    items[sk].role = "stage"
                    items[sk].meaning = f"{_dim_word(model.stages.dimension)} in {', '.join(model.stage_values(group))}"
                else:
                    items[sk].role = "unmapped"
                    first, second = sorted((sk, target))
                    unmapped_extra.append((items[first].i, f"{item_text(items[first])} {item_text(items[second])}"))
                    items[target].role = "unmapped"
        else:
            count = _count_metric(model, group)
            if count:
                items[sk].kind, items[sk].name = "metric", count
                metric_ks.append(sk)
            else:
                items[sk].role = "unmapped"
    metric_ks.sort()
    # "percentage of deals won" -> the ratio whose numerator counts them (win rate); "value of
    # deals won" -> the sum over the same rows (closed-won revenue); from the model's measures
    for k, it in enumerate(items):
        tag = _gram(it) if it.kind == "gram" else ""
        if tag not in ("pct_of", "value_of"):
            continue
        f = nxt(k)
        if f < 0 or items[f].kind != "metric" or items[f].role == "unmapped":
            continue
        spec = model.metrics[items[f].name]
        measure = model.measures.get(spec.measure or "")
        if measure is None or measure.agg != "count":
            continue
        if tag == "pct_of":
            found = next((n for n, m in model.metrics.items() if m.is_ratio and m.numerator == spec.measure), None)
        else:
            found = next((n for n, m in model.metrics.items() if m.measure and not m.transform
                          and model.measures[m.measure].agg == "sum" and model.measures[m.measure].entity == measure.entity
                          and model.measures[m.measure].stage_group == measure.stage_group
                          and model.measures[m.measure].filters == measure.filters), None)
        if found:
            items[f].name = found
            it.role, it.meaning = "metric", ""
            items[f].extra["lead"] = it.i
        else:
            it.role = items[f].role = "unmapped"
            unmapped_extra.append((it.i, q.span_text(it.i, items[f].j)))
    for k in metric_ks:
        it = items[k]
        if items[k].role == "unmapped":
            continue
        if it.name not in metrics:
            metrics.append(it.name)
            metric_pos[it.name] = k
        it.role = "metric"
        it.meaning = f"metric {model.metric_label(it.name)}"
    had_own_metric = bool(metrics)

    # -- ranking words, numbers
    order_desc: bool | None = None
    rank_word_k = -1
    limit: int | None = None
    quality = False
    top_no_n = False
    comparative = False
    for k, it in enumerate(items):
        tag = _gram(it) if it.kind == "gram" else ""
        if tag in ("top", "bottom"):
            order_desc = tag == "top"
            rank_word_k = k
            f = nxt(k)
            if f >= 0 and items[f].kind == "number":
                limit = _number(q.toks[items[f].i].norm)
                items[f].role = "limit"
                it.role = "rank"
                it.meaning = f"{tag} {limit}"
                it.extra["number"] = f
            else:
                top_no_n = True
                it.role = "rank"
                it.meaning = tag
        elif tag.startswith("cmp_"):
            if order_desc is None:
                base = tag[4:]
                order_desc = base in ("desc", "best")
                quality = base in ("best", "worst")
                comparative = True
                it.role, it.meaning = "rank", {"desc": "highest first", "asc": "lowest first", "best": "best first", "worst": "worst first"}[base]
        elif tag in ("desc", "asc", "best", "worst"):
            comparative = False
            if rank_word_k >= 0 and items[rank_word_k].role == "rank" and _gram(items[rank_word_k]) in ("top", "bottom"):
                it.role = "rank"
                it.meaning = "ranking"
                quality = quality or tag in ("best", "worst")
                continue
            order_desc = tag in ("desc", "best")
            quality = tag in ("best", "worst")
            rank_word_k = k
            it.role = "rank"
            it.meaning = {"desc": "highest first", "asc": "lowest first", "best": "best first", "worst": "worst first"}[tag]
            b = nxt(k, -1)
            if b >= 0 and items[b].kind == "number" and not items[b].role:
                limit = _number(q.toks[items[b].i].norm)
                items[b].role = "limit"
    # "which 5 reps ... the fewest", "the 3 offices with the highest ...": a number right before a
    # dimension word is the ranking's size.
    if order_desc is not None and limit is None:
        for k, it in enumerate(items):
            f = nxt(k)
            if it.kind == "number" and not it.role and f >= 0 and items[f].kind == "dim":
                limit = _number(q.toks[it.i].norm)
                it.role, it.meaning = "limit", f"{limit} rows"
                break
    # rank words inside a metric phrase ("largest deal") still rank with "who"/"which X"
    for k in metric_ks:
        words = {q.toks[x].norm for x in range(items[k].i, items[k].j)}
        if order_desc is None and words & {"largest", "biggest", "highest", "greatest"}:
            items[k].extra["superlative"] = True

    # -- breakdowns
    group_by: list[str] = []
    grain: str | None = None
    which_singular = False
    who_k = -1
    time_dimension: str | None = None

    def add_group(name: str) -> None:
        if name not in group_by:
            group_by.append(name)

    for k, it in enumerate(items):
        tag = _gram(it) if it.kind == "gram" else ""
        if tag.startswith("grain:"):
            grain = tag.split(":")[1]
            it.role, it.meaning = "grain", f"by {grain}"
        elif tag in ("by", "which", "compare"):
            f = nxt(k)
            chain = []
            while f >= 0:
                target = items[f]
                ttag = _gram(target) if target.kind == "gram" else ""
                if target.kind == "dim" and not target.role:
                    chain.append(f)
                elif ttag.startswith("unit:") and tag != "compare":
                    chain.append(f)
                elif target.kind == "tdim" and tag == "by":
                    chain.append(f)
                else:
                    break
                after = nxt(f)
                if after >= 0 and items[after].kind == "gram" and _gram(items[after]) in ("and", "by"):
                    after2 = nxt(after)
                    if after2 >= 0 and (items[after2].kind == "dim" or _gram(items[after2]).startswith("unit:")):
                        items[after].role = "by"
                        f = after2
                        continue
                break
            for c in chain:
                target = items[c]
                ttag = _gram(target) if target.kind == "gram" else ""
                if target.kind == "dim":
                    add_group(target.name)
                    target.role, target.meaning = "group", f"breakdown by {model.dimension_label(target.name)}"
                    if tag == "which" and not _plural(q, target, lex):
                        which_singular = True
                elif target.kind == "tdim":
                    time_dimension = target.name
                    grain = grain or "month"
                    target.role, target.meaning = "grain", f"by month of {model.dimension_label(target.name)}"
                else:
                    grain = ttag.split(":")[1]
                    target.role, target.meaning = "grain", f"by {grain}"
                    if tag == "which" and not q.toks[target.j - 1].norm.endswith("s"):
                        which_singular = True
            if chain:
                it.role, it.meaning = "by", ""
                items[chain[0]].extra["lead"] = it.i
            elif tag == "by":
                f = nxt(k)
                if f >= 0 and items[f].kind in ("metric", "value"):
                    it.role, it.meaning = "by", ""
                    items[f].extra["lead"] = it.i
        elif tag == "breakdown":
            b = nxt(k, -1)
            if b >= 0 and items[b].kind == "dim" and not items[b].role:
                add_group(items[b].name)
                items[b].role, items[b].meaning = "group", f"breakdown by {model.dimension_label(items[b].name)}"
                it.role, it.meaning = "by", "breakdown"
        elif tag == "who":
            who_k = k
    # dimension words right after "top"/"bottom"/a rank word ("top accounts", "best agent")
    if rank_word_k >= 0:
        f = nxt(rank_word_k)
        if f >= 0 and items[f].kind == "number":
            f = nxt(f)
        while f >= 0 and items[f].kind == "gram" and _gram(items[f]) in ("desc", "asc", "best", "worst", "perf"):
            f = nxt(f)
        if f >= 0 and items[f].kind == "dim" and not items[f].role:
            add_group(items[f].name)
            items[f].role, items[f].meaning = "group", f"breakdown by {model.dimension_label(items[f].name)}"
            if not _plural(q, items[f], lex):
                which_singular = True
        elif f >= 0 and _gram(items[f]).startswith("unit:"):
            grain = _gram(items[f]).split(":")[1]
            items[f].role, items[f].meaning = "grain", f"by {grain}"
            which_singular = which_singular or not q.toks[items[f].j - 1].norm.endswith("s")

    # -- values -> filters
    value_ks = [k for k, it in enumerate(items) if it.kind == "value"]
    for k in value_ks:
        it = items[k]
        candidates = [e for e in it.entries if e.kind == "value"]
        dims = {e.name for e in candidates}
        chosen = None
        for d in (nxt(k, -1), nxt(k, 1)):
            if d >= 0 and items[d].kind == "dim" and items[d].name in dims and items[d].role in ("", "group"):
                chosen = next(e for e in candidates if e.name == items[d].name)
                if not items[d].role:
                    items[d].role, items[d].meaning = "qualifier", ""
                break
        if chosen is None:
            ordered = sorted(candidates, key=lambda e: (lex.dim_rank.get(e.name, 0), e.name))
            chosen = ordered[0]
            if len({e.name for e in candidates}) > 1:
                others = ", ".join(sorted({_dim_word(e.name) for e in candidates if e.name != chosen.name}))
                notes.append(f"'{item_text(it)}' is both {_a(_dim_word(chosen.name))} and {_a(others)}; read as {_dim_word(chosen.name)}")
        it.name = chosen.name
        it.extra["value"] = chosen.value
        it.extra["how"] = chosen.how
        if chosen.how in ("alias", "partial") and q.toks[it.i].norm != chosen.value.lower():
            if chosen.how == "partial" or item_text(it).lower() != chosen.value.lower():
                notes.append(f"'{item_text(it)}' read as {_dim_word(chosen.name)} '{chosen.value}'")
        # a dimension word of the same entity next to the value qualifies it ("technology
        # accounts", "accounts headquartered outside the United States")
        for step in (-1, 1):
            d = nxt(k, step)
            while d >= 0 and items[d].kind == "gram" and _gram(items[d]) == "excl":
                d = nxt(d, step)
            entity = model.dimensions[chosen.name].entity
            while d >= 0 and items[d].kind == "dim" and items[d].role in ("", "qualifier") \
                    and model.dimensions[items[d].name].entity == entity:
                items[d].role, items[d].meaning = "qualifier", ""
                d = nxt(d, step)
    # "Acme Widgets": a partial or fuzzy name next to an unknown capitalised word is an unknown name
    for k in value_ks:
        it = items[k]
        loose = bool(it.extra.get("partial") or it.extra.get("fuzzy"))
        single = it.j - it.i == 1
        if loose or single:
            for d in (k - 1, k + 1):
                if 0 <= d < len(items) and items[d].kind == "unknown" and (
                    q.toks[items[d].i].raw[:1].isupper() or (single and not loose and not q.toks[it.i].raw[:1].isupper())
                ):
                    it.kind = "unknown"
                    it.role = ""
                    notes[:] = [n for n in notes if not n.startswith(f"'{item_text(it)}' read as")]
                    break
    filters: dict[tuple[str, str], list[str]] = {}
    multi_vs: set[str] = set()
    has_vs = any(it.kind == "gram" and _gram(it) in ("vs", "compare") for it in items)
    excl_active = False
    last_value_dim = None
    for k, it in enumerate(items):
        tag = _gram(it) if it.kind == "gram" else ""
        if tag == "excl":
            f = nxt(k)
            if f >= 0 and items[f].kind == "value":
                excl_active = True
                it.role, it.meaning = "excl", "excluding"
            continue
        if it.kind == "value":
            op = "not_in" if excl_active else "in"
            key = (it.name, op)
            vals = filters.setdefault(key, [])
            if it.extra["value"] not in vals:
                vals.append(it.extra["value"])
            it.role = "filter"
            it.meaning = f"{_dim_word(it.name)} {'is not' if op == 'not_in' else '='} {it.extra['value']}"
            last_value_dim = it.name
            if len(vals) > 1 and has_vs and op == "in":
                multi_vs.add(it.name)
            continue
        if tag in ("and", "vs") and last_value_dim is not None:
            f = nxt(k)
            if f >= 0 and items[f].kind == "value" and items[f].name == last_value_dim:
                it.role, it.meaning = "and", "or"
                continue
        if it.kind not in ("filler",) and not (it.kind == "dim" and it.role == "qualifier"):
            excl_active = False
            if it.kind != "value":
                last_value_dim = None if tag not in ("and", "vs") else last_value_dim
    for dim in multi_vs:
        add_group(dim)
    if stage_filter and (stage_filter[0], "in") not in filters:
        filters[(stage_filter[0], "in")] = list(stage_filter[1])

    # "vs"/"compare" used between values
    for k, it in enumerate(items):
        if it.kind == "gram" and _gram(it) in ("vs", "compare") and not it.role and multi_vs:
            it.role, it.meaning = "vs", "compared side by side"

    # -- who / which (singular)
    who_grouped = False
    if who_k >= 0:
        if not group_by and lex.who_dim:
            add_group(lex.who_dim)
            which_singular = who_grouped = True
            items[who_k].role = "group"
            items[who_k].meaning = f"breakdown by {model.dimension_label(lex.who_dim)}"
        elif group_by:
            items[who_k].role = "filler"
    # plural dimension words on their own ("reps in the East office") read as breakdowns;
    # singular ones ("for the office") are noted and not used
    for k, it in enumerate(items):
        if it.kind == "dim" and not it.role:
            if it.name in group_by:
                it.role, it.meaning = "qualifier", ""
            elif _plural(q, it, lex):
                add_group(it.name)
                it.role, it.meaning = "group", f"breakdown by {model.dimension_label(it.name)}"
                notes.append(f"'{item_text(it)}' read as a breakdown by {model.dimension_label(it.name)}")
            else:
                it.role = "noted"
                notes.append(f"'{item_text(it)}' is named without a value or 'by'; not used as a breakdown")
        elif it.kind == "tdim" and not it.role:
            time_dimension = it.name
            it.role, it.meaning = "tdim", f"dated by {model.dimension_label(it.name)}"

    # -- performance words and ranking without a metric
    perf = [k for k, it in enumerate(items) if it.kind == "gram" and _gram(it) == "perf"]
    wants_metric = order_desc is not None or bool(perf) and bool(group_by)
    if not metrics and wants_metric and lex.default_metric and (group_by or grain or order_desc is not None):
        if previous is None or not follow_cue:
            metrics.append(lex.default_metric)
            notes.append(f"no metric named; ranked by {model.metric_label(lex.default_metric)}")
    for k in perf:
        items[k].role, items[k].meaning = "perf", "performance"

    # -- ordering and limit
    order: list[OrderBy] = []
    superlative_metric = any(items[k].extra.get("superlative") for k in metric_ks)
    # A follow-up that only re-ranks ("now show the bottom 5") ranks the previous metric and breakdown.
    reranks = previous is not None and follow_cue and not metrics and not group_by and not grain
    rank_metrics = list(previous.metrics) if reranks else metrics
    rank_groups = bool(previous.group_by or previous.grain) if reranks else bool(group_by or grain)
    if (order_desc is not None or (superlative_metric and which_singular)) and rank_metrics and rank_groups:
        first = rank_metrics[0]
        desc = True if order_desc is None else order_desc
        if quality and not model.metrics[first].higher_is_better:
            desc = not desc
        order.append(OrderBy(first, desc))
        if limit is None and not comparative:
            if which_singular or who_grouped:
                limit = 1
            elif top_no_n:
                limit = TOP_DEFAULT
                notes.append(f"'top' with no number: top {TOP_DEFAULT}")
    elif order_desc is not None and not (group_by or grain):
        for k, it in enumerate(items):
            if it.role == "rank":
                it.role = "filler"

    # -- periods and comparison
    period: Period | None = None
    compare: Period | None = None
    vs_before = set()
    for idx, pm in enumerate(periods):
        first_tok = next((k for k, t in enumerate(q.toks) if t.start >= pm.span[0]), None)
        if first_tok is not None:
            for it_k, it in enumerate(items):
                if it.j == first_tok or (it.j <= first_tok and all(
                    items[x].kind == "filler" for x in range(it_k + 1, len(items)) if items[x].j <= first_tok
                )):
                    if it.kind == "gram" and _gram(it) == "vs":
                        vs_before.add(idx)
                        it.role, it.meaning = "vs", "compared with"
    if periods:
        if len(periods) >= 2:
            ordered = sorted(periods[-2:], key=lambda p: (p.period.start, p.period.end))
            period, compare = ordered[1].period, ordered[0].period
            notes.append(f"two periods: {period.label} compared with {compare.label} (the later one is the period)")
            if len(periods) > 2:
                unmapped_extra.append((0, ", ".join(p.period.label for p in periods[:-2])))
        elif comparison is None and vs_before and periods[0].relative:
            compare = periods[0].period
            period = current_period(periods[0].relative, as_of=as_of)
            compare = comparison_period(period, periods[0].relative if periods[0].relative in ("month", "quarter", "half", "year", "week") else "previous")
            notes.append(f"'vs {text[periods[0].span[0]:periods[0].span[1]]}' read as {period.label} compared with {compare.label}")
        else:
            period = periods[0].period
    if comparison is not None:
        if period is None:
            unit = comparison.base_unit or "year"
            period = current_period(unit if unit in ("day", "week", "month", "quarter", "half", "year") else "year", as_of=as_of)
        if compare is None:
            kind = comparison.kind
            compare = comparison_period(period, kind)
        notes.append(f"'{text[comparison.span[0]:comparison.span[1]]}' = {compare.start.isoformat()} to {compare.end.isoformat()}")
    if compare is not None:
        for it in items:
            if it.kind == "gram" and _gram(it) in ("compare", "vs", "and") and not it.role:
                it.role, it.meaning = "vs", ""
    if period is not None:
        for pm in periods:
            if pm.period == period or pm.period == compare:
                notes.append(_period_note(text[pm.span[0]:pm.span[1]], pm.period))
        if comparison is not None and not any(pm.period == period for pm in periods):
            notes.append(f"period {period.start.isoformat()} to {period.end.isoformat()}" + ("" if period.complete else " (to date)"))
        for m in metrics:
            spec = model.metrics[m]
            measures = [spec.measure] if spec.measure else [spec.numerator, spec.denominator]
            if all(model.measures[x].time_dimension is None for x in measures if x) and time_dimension is None:
                notes.append(f"{model.metric_label(m)} is a snapshot: the period does not apply to it")

    # -- follow-up or standalone
    has_content = bool(metrics or group_by or grain or filters or period or order)
    query: SemanticQuery | None
    filter_objs = tuple(Filter(dim, tuple(vals), op) for (dim, op), vals in filters.items())
    new_period = _tr(period, time_dimension) if period else None
    new_compare = _tr(compare, time_dimension) if compare else None
    if previous is not None and (follow_cue or not had_own_metric) and (has_content or follow_cue):
        query = _merge(previous, metrics=tuple(metrics), group_by=tuple(group_by), grain=grain, filters=filter_objs,
                       period=new_period, compare=new_compare, order=tuple(order), limit=limit if order else None,
                       own_metric=had_own_metric)
        notes.append("read as a follow-up to the previous question")
    elif metrics:
        query = SemanticQuery(
            metrics=tuple(metrics), group_by=tuple(group_by), filters=filter_objs, period=new_period, grain=grain,
            compare=new_compare, order=tuple(order), limit=limit if order else None,
        )
    else:
        query = None
        if has_content:
            notes.append("no metric recognised")

    # -- account for every word
    for k, it in enumerate(items):
        if it.kind == "period":
            continue
        if it.role in ("metric", "group", "filter", "grain", "rank", "limit", "stage", "excl", "by", "and", "vs", "tdim", "perf"):
            if it.meaning:
                matched.append((q.toks[it.extra.get("lead", it.i)].start, item_text(it), it.meaning))
    for idx, pm in enumerate(periods):
        if period is not None and (pm.period == period or pm.period == compare):
            meaning = f"period {pm.period.label}" if pm.period == period else f"compared with {pm.period.label}"
            matched.append((pm.span[0], text[pm.span[0]:pm.span[1]], meaning))
    if comparison is not None and compare is not None:
        matched.append((comparison.span[0], text[comparison.span[0]:comparison.span[1]], f"compared with {compare.label}"))
    unused: list[str] = []
    unmapped_parts: list[tuple[int, str]] = list(unmapped_extra)
    grammar_parts: set[int] = set()  # positions of unmapped grammar words (not compounds of a metric word)
    run: list[_Item] = []

    def flush() -> None:
        if run:
            unmapped_parts.append((run[0].i, q.span_text(run[0].i, run[-1].j)))
            run.clear()

    for k, it in enumerate(items):
        used = it.kind == "period" or it.role in ("metric", "group", "filter", "grain", "rank", "limit", "stage", "excl", "by",
                                                   "and", "vs", "tdim", "perf", "qualifier", "unmapped")
        unmappable = it.kind in ("unknown", "number") and not it.role
        if it.kind == "gram" and _gram(it) == "follow" and previous is None and not follow_cue:
            unmappable = False
        if unmappable or (it.kind == "value" and not it.role):
            run.append(it)
            continue
        if run and it.kind == "filler" and q.toks[it.i].norm in _GLUE_NOUNS and items[k - 1] is run[-1]:
            run.append(it)
            continue
        if (run and it.kind == "filler" and q.toks[it.i].norm in ("in", "of", "per", "to") and items[k - 1] is run[-1]
                and k + 1 < len(items) and items[k + 1].kind == "dim" and items[k + 1].role in ("noted", "qualifier")):
            # "time in stage", "days to close": one concept the model lacks, named whole
            run.append(it)
            continue
        if run and it.kind == "dim" and it.role in ("noted", "qualifier") and items[k - 1] is run[-1] and items[k - 1].kind == "filler":
            run.append(it)
            continue
        if it.kind == "dim" and it.role == "noted" and (
            (k + 1 < len(items) and items[k + 1].kind == "unknown") or (k > 0 and items[k - 1].kind == "unknown" and run)
        ):
            run.append(it)
            continue
        if run and it.kind == "value" and it.j - it.i == 1 and not q.toks[it.i].raw[:1].isupper() and k > 0 and items[k - 1] is run[-1]:
            run.append(it)
            continue
        flush()
        if not used and it.kind == "gram" and _gram(it) not in _HARMLESS_GRAMS:
            # "gtx max" is not the GTX series ranked; "revenue excluding last quarter" is not last
            # quarter's revenue: name the word, never drop it silently.
            unmapped_parts.append((it.i, item_text(it)))
            grammar_parts.add(it.i)
            continue
        if not used:
            unused.append(item_text(it))
    flush()
    # a lower-case single-word value right before an unknown word is part of that unknown phrase
    # ("marketing qualified leads", "customer satisfaction")
    merged: list[tuple[int, str]] = []
    for pos, part in sorted(unmapped_parts):
        merged.append((pos, part))
    final_unmapped: list[str] = []
    for pos, part in merged:
        for k, it in enumerate(items):
            if it.j == pos and it.j - it.i == 1 and it.role in ("filter", "noted") \
                    and (not q.toks[it.i].raw[:1].isupper() or it.i == 0) \
                    and not it.extra.get("partial"):
                part = f"{item_text(it)} {part}"
                it.role = "absorbed"
                matched[:] = [m for m in matched if m[0] != q.toks[it.i].start]
                unused[:] = [u for u in unused if u != item_text(it)]
                break
        else:
            # "loss reason", "deal source": an unknown noun right after a metric or stage word is a
            # compound the model lacks; name the whole compound (the question is declined anyway).
            for it in ([] if pos in grammar_parts else items):
                if it.j == pos and it.j - it.i == 1 and it.role in ("metric", "stage") and not q.toks[it.i].raw[:1].isupper():
                    part = f"{item_text(it)} {part}"
                    break
        final_unmapped.append(part)
    if any(it.role == "absorbed" for it in items) and query is not None:
        absorbed = {(it.name, it.extra.get("value")) for it in items if it.role == "absorbed" and it.kind == "value"}
        if absorbed:
            kept = tuple(
                f2 for f2 in (
                    Filter(f.dimension, tuple(v for v in f.values if (f.dimension, v) not in absorbed), f.op) for f in query.filters
                ) if f2.values
            )
            query = replace(query, filters=kept)
        notes[:] = [n for n in notes if "named without a value" not in n or not any(
            it.role == "absorbed" and f"'{item_text(it)}'" in n for it in items)]

    matched.sort(key=lambda m: m[0])
    return ParseResult(
        query=query,
        unmapped=final_unmapped,
        unused_words=unused,
        matched=[(t, m) for _, t, m in matched],
        notes=list(dict.fromkeys(notes)),
    )


def _merge(
    previous: SemanticQuery,
    *,
    metrics: tuple[str, ...],
    group_by: tuple[str, ...],
    grain: str | None,
    filters: tuple[Filter, ...],
    period: TimeRange | None,
    compare: TimeRange | None,
    order: tuple[OrderBy, ...],
    limit: int | None,
    own_metric: bool,
) -> SemanticQuery:
    """A follow-up: ``previous`` with the parts the new question names replaced. Metrics replace
    metrics (the ordering follows the new first metric); a breakdown or grain replaces both; a
    filter replaces the previous filter on the same dimension and operator, others are kept; a
    period replaces the period, and a previous comparison is shifted by the same number of months
    (or days) to the new period; a new ranking replaces the old one."""
    new_metrics = metrics if own_metric and metrics else previous.metrics
    new_group, new_grain = previous.group_by, previous.grain
    if group_by or grain:
        new_group, new_grain = group_by, grain
    kept = [f for f in previous.filters if not any(f.dimension == n.dimension and f.op == n.op for n in filters)]
    new_filters = tuple(kept) + filters
    new_period, new_compare = previous.period, previous.compare
    if period is not None:
        new_period = period
        if compare is not None:
            new_compare = compare
        elif previous.compare is not None and previous.period is not None:
            months = (previous.period.start.year - previous.compare.start.year) * 12 + previous.period.start.month - previous.compare.start.month
            base = Period(period.label, period.start, period.end, period.complete)
            shifted = shift_period(base, months=-months) if months and previous.compare.start.day == previous.period.start.day else \
                shift_period(base, days=-(previous.period.start - previous.compare.start).days)
            new_compare = TimeRange(shifted.start, shifted.end, range_label(shifted.start, shifted.end), period.time_dimension)
        else:
            new_compare = None
    elif compare is not None:
        new_compare = compare
    new_order, new_limit = previous.order, previous.limit
    if order:
        new_order, new_limit = order, limit
    elif new_order and new_metrics and new_order[0].by in previous.metrics and new_order[0].by not in new_metrics:
        new_order = (OrderBy(new_metrics[0], new_order[0].desc),) + tuple(new_order[1:])
    if not (new_group or new_grain):
        new_order, new_limit = (), None
    return SemanticQuery(
        metrics=new_metrics, group_by=new_group, filters=new_filters, period=new_period, grain=new_grain,
        compare=new_compare, order=new_order, limit=new_limit, fields=previous.fields if not own_metric else (),
    )
