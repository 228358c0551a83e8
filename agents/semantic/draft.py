"""Draft a semantic model (v2) from an introspected warehouse schema, for an editor to refine.

``manage.py semantic_model_draft`` calls :func:`semantic_model_draft` on what
:func:`integrations.warehouse.introspect.schema_introspect` found and saves the result as a
``semantic_model`` KB document. The draft is a proposal: every rule below is a heuristic, and
each guess is listed in the returned notes and in the document's "What to check" section.

Rules (each a heuristic an editor confirms; the v2 shape is :mod:`knowledge.semantic_model`):

- one entity per table, named after the table (snake case); ``primary_key`` the declared
  single-column key, else a column called ``id`` or ``<singular>_id`` (a guess); ``display`` the
  first name-like text column (``name``, ``full_name``, ``title``, ``<singular>_name``,
  ``<singular>``...), else the primary key;
- one ``many_to_one`` relationship per declared foreign key (``one_to_one`` when the key is the
  table's primary or a unique key); without declared keys, a column ``<x>_id`` equal to another
  table's (guessed) primary key is proposed as a guess; a second path between the same two
  entities is left out (the compiler could not tell the paths apart) and noted;
- dimensions: the display column of each entity becomes a dimension named after the entity
  (with the foreign-key names that reach it as synonyms, ``owner_id`` -> ``owner``); other text,
  number and boolean columns become dimensions named after the column (``<entity>_<column>``
  when two tables share the column name); key columns are left out; date columns become time
  dimensions;
- measures and metrics: a count per entity (by its created-like date), sum and average of each
  numeric amount-like column (``amount``, ``value``, ``revenue``, ``price``...);
- stages: a text column named like ``stage`` (or ``status``) whose sampled values contain
  ``won`` / ``lost``: won / lost / open groups, won, lost, closed and open counts, won amount,
  average won amount and a ``win_rate`` metric (won / closed x 100). The open-stage order is the
  sampled frequency order, a guess;
- aliases: values of one column that differ only by case, spaces or punctuation (``GTXPro`` /
  ``GTX Pro``) or are within a rapidfuzz ratio of 90 (``technolgy`` / ``technology``, never when
  their digits differ) map to the most frequent spelling; a text column whose values are the
  display names of an entity it references (a denormalised copy such as ``product_name`` next to
  ``product2_id``) maps its variants to that entity's spelling.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import yaml
from rapidfuzz import fuzz, process

from integrations.warehouse.introspect import ColumnInfo, SchemaInfo, TableInfo
from knowledge.semantic_model import IDENT_RE, parse_semantic_model

DEFAULT_TITLE = "Warehouse semantic model"
FUZZY_ALIAS_MIN_RATIO = 90  # rapidfuzz fuzz.ratio (0-100) on case/space/punctuation-folded values
FUZZY_ALIAS_MIN_LENGTH = 5  # folded values shorter than this are never fuzzy-matched
REFERENCE_MATCH_SHARE = 0.8  # share of a column's distinct values found among the referenced names

NAME_WORDS = ("name", "full_name", "display_name", "title", "label", "subject")
_AMOUNT = re.compile(r"(amount|value|revenue|price|total|cost|budget|spend|arr|mrr|acv|tcv)")
_CREATED = re.compile(r"(created|create|engage|open|start|activity|timestamp|event|^date$)")
_CLOSED = re.compile(r"(close|closed|won|end)")
_WON = re.compile(r"\b(won|win)\b", re.IGNORECASE)
_LOST = re.compile(r"\b(lost|loss|lose)\b", re.IGNORECASE)
_CLOSED_WORD = re.compile(r"\bclosed?\b", re.IGNORECASE)


def _snake(name: str) -> str:
    """``StageName`` / ``Stage Name`` -> ``stage_name``; a valid model name (``[a-z][a-z0-9_]*``)."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"[^0-9a-zA-Z]+", "_", s).strip("_").lower()
    s = re.sub(r"_+", "_", s)
    if not s or not s[0].isalpha():
        s = f"t_{s}" if s else "t"
    return s[:63]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _plural(word: str) -> str:
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def _words(name: str) -> str:
    return _snake(name).replace("_", " ")


def _fold(value: str) -> str:
    """Case, space and punctuation folded: ``GTX Pro`` and ``GTXPro`` -> ``gtxpro``."""
    return re.sub(r"[\W_]+", "", value.casefold())


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _fuzzy_key(key: str, keys: Iterable[str]) -> str | None:
    """The folded key among ``keys`` that the folded ``key`` is a near duplicate of, or None.

    Both must be at least :data:`FUZZY_ALIAS_MIN_LENGTH` characters, carry the same digits
    (``Region 10`` is not ``Region 11``), and score rapidfuzz ``fuzz.ratio`` (0-100) >=
    :data:`FUZZY_ALIAS_MIN_RATIO`; the best scoring one wins (the first on ties).
    """
    if len(key) < FUZZY_ALIAS_MIN_LENGTH:
        return None
    digits = _digits(key)
    choices = [k for k in keys if len(k) >= FUZZY_ALIAS_MIN_LENGTH and _digits(k) == digits]
    if not choices:
        return None
    match = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=FUZZY_ALIAS_MIN_RATIO)
    return match[0] if match is not None else None


def near_duplicate_aliases(samples: list[tuple[str, int]] | tuple[tuple[str, int], ...]) -> dict[str, str]:
    """Aliases ``{variant: canonical}`` among one column's values ``[(value, rows), ...]``.

    Values equal once case, spaces and punctuation are folded are one value; otherwise two
    folded values at least :data:`FUZZY_ALIAS_MIN_LENGTH` long, with the same digits and a
    rapidfuzz ``fuzz.ratio`` >= :data:`FUZZY_ALIAS_MIN_RATIO` are. The canonical spelling is
    the most frequent (ties: one without surrounding spaces, the longer, the first alphabetically).

    Example: ``[("GTX Pro", 30), ("GTXPro", 3), ("GTX Basic", 20)]`` -> ``{"GTXPro": "GTX Pro"}``.
    """
    counts: Counter[str] = Counter()
    for value, rows in samples:
        counts[value] += int(rows)
    ranked = sorted(counts, key=lambda v: (-counts[v], v != v.strip(), -len(v), v))
    aliases: dict[str, str] = {}
    canon_by_fold: dict[str, str] = {}
    for value in ranked:  # most frequent first: it becomes the canonical spelling of its group
        key = _fold(value)
        if not key:
            continue
        if key in canon_by_fold:
            aliases[value] = canon_by_fold[key]
            continue
        match = _fuzzy_key(key, canon_by_fold)
        if match is not None:
            aliases[value] = canon_by_fold[match]
            continue
        canon_by_fold[key] = value
    return aliases


def reference_aliases(values: list[str], names: list[str]) -> tuple[dict[str, str], float]:
    """Map a column's distinct ``values`` onto the display ``names`` of a referenced entity.

    Returns ``(aliases, share)``: ``aliases`` ``{value: name}`` for values not among ``names``
    that equal one once folded or are within the fuzzy rule of :func:`near_duplicate_aliases`;
    ``share`` the fraction of ``values`` found among ``names`` exactly or through an alias (the
    caller proposes the aliases only when the column is such a copy, share >= 0.8).

    Example: ``(["GTXPro", "GTX Basic"], ["GTX Pro", "GTX Basic"])`` -> ``({"GTXPro": "GTX Pro"}, 1.0)``.
    """
    if not values or not names:
        return {}, 0.0
    exact = set(names)
    by_fold = {}
    for name in names:
        by_fold.setdefault(_fold(name), name)
    aliases: dict[str, str] = {}
    found = 0
    for value in values:
        if value in exact:
            found += 1
            continue
        key = _fold(value)
        target = by_fold.get(key)
        if target is None:
            match = _fuzzy_key(key, by_fold)
            target = by_fold[match] if match is not None else None
        if target is not None:
            aliases[value] = target
            found += 1
    return aliases, found / len(values)


@dataclass
class _Entity:
    name: str
    table: TableInfo
    primary_key: str | None
    pk_guessed: bool
    display: ColumnInfo | None
    key_columns: set[str] = field(default_factory=set)  # PK + relationship columns (never dimensions)


def _primary_key(table: TableInfo) -> tuple[str | None, bool]:
    if len(table.primary_key) == 1:
        return table.primary_key[0], False
    if table.primary_key:
        return None, False  # composite: no single-column key to declare
    singular = _singular(table.name.lower())
    for candidate in ("id", f"{singular}_id", f"{table.name.lower()}_id"):
        for col in table.columns:
            if col.name.lower() == candidate and IDENT_RE.match(col.name):
                return col.name, True
    return None, False


def _display(table: TableInfo) -> ColumnInfo | None:
    lower = table.name.lower()
    singular = _singular(lower)
    wanted = {*NAME_WORDS, f"{singular}_name", f"{lower}_name", singular, lower}
    for col in table.columns:
        if col.category == "string" and col.name.lower() in wanted and IDENT_RE.match(col.name):
            return col
    return None


def _is_amount(col: ColumnInfo) -> bool:
    return col.category == "number" and bool(_AMOUNT.search(col.name.lower())) and not col.name.lower().endswith("_id")


def _date_columns(table: TableInfo) -> list[ColumnInfo]:
    return [c for c in table.columns if c.category == "date" and IDENT_RE.match(c.name)]


def semantic_model_draft(description: SchemaInfo, *, title: str = DEFAULT_TITLE) -> tuple[dict, str, list[str]]:
    """Propose a v2 semantic model for the schema ``description``.

    Args:
        description: what :func:`integrations.warehouse.introspect.schema_introspect` found.
        title: the document title written into the front matter.

    Returns:
        ``(front_matter, markdown, notes)``: ``front_matter`` is the document's YAML front matter
        as a dict (``kind``, ``title``, ``rule_set: semantic_model``, then the v2 sections) and
        validates with :func:`knowledge.semantic_model.parse_semantic_model`; ``markdown`` the
        document body after it, explaining the draft and what an editor must check; ``notes``
        one sentence per guess or omission (the same items as the body's "What to check").
        Render the document with :func:`semantic_model_document`.

    Raises:
        ValueError: the schema holds no table whose name is a plain identifier.
        knowledge.semantic_model.SemanticModelInvalid: the draft does not validate (a bug here).
    """
    notes: list[str] = []
    entities: dict[str, _Entity] = {}
    for table in description.tables.values():
        if not IDENT_RE.match(table.name):
            notes.append(f"Table {table.name!r} is left out: its name needs quoting, which the model does not allow.")
            continue
        name = _snake(table.name)
        if name in entities:
            name = f"{name}_{len(entities)}"
        pk, guessed = _primary_key(table)
        if guessed:
            notes.append(f"{name}: no primary key is declared; `{pk}` is assumed to be it (guess): check it is unique.")
        elif pk is None:
            notes.append(
                f"{name}: no single-column primary key"
                + (" (the declared key is composite)" if table.primary_key else "")
                + ": the entity cannot be joined to, and counts of it are counts of rows."
            )
        display = _display(table)
        entities[name] = _Entity(name, table, pk, guessed, display, {pk} if pk else set())
    if not entities:
        raise ValueError(f"schema {description.schema!r} holds no table the model can describe")
    by_table = {e.table.name: e for e in entities.values()}

    # -- relationships ---------------------------------------------------------------------------
    relationships: list[dict] = []
    rel_source: list[str] = []
    seen_pairs: set[tuple[str, str]] = set()
    fk_stems: dict[str, list[str]] = {}  # target entity -> names of the keys that reach it

    def add_relationship(src: _Entity, dst: _Entity, cols: tuple[str, ...], ref_cols: tuple[str, ...], how: str) -> None:
        if not all(IDENT_RE.match(c) for c in (*cols, *ref_cols)):
            notes.append(f"{src.name}: a key to {dst.name} uses a column name that needs quoting; not declared.")
            return
        if (src.name, dst.name) in seen_pairs:
            notes.append(
                f"{src.name} reaches {dst.name} through {', '.join(cols)} as well: only the first path is declared "
                "(dimensions cannot say which path they mean); add a view or a second entity if both are needed."
            )
            src.key_columns.update(cols)
            return
        seen_pairs.add((src.name, dst.name))
        one_to_one = tuple(cols) == tuple(src.table.primary_key) or tuple(cols) in src.table.unique_keys
        relationships.append(
            {"from": src.name, "to": dst.name, "keys": dict(zip(cols, ref_cols)),
             "cardinality": "one_to_one" if one_to_one else "many_to_one"}
        )
        rel_source.append(how)
        src.key_columns.update(cols)
        if len(cols) == 1 and cols[0].lower().endswith("_id"):
            fk_stems.setdefault(dst.name, []).append(cols[0][:-3].lower())

    for ent in entities.values():
        for fk in ent.table.foreign_keys:
            dst = by_table.get(fk.ref_table) if fk.ref_schema in ("", description.schema) else None
            if dst is None:
                notes.append(
                    f"{ent.name}: foreign key {', '.join(fk.columns)} references "
                    f"{fk.ref_schema + '.' if fk.ref_schema else ''}{fk.ref_table}, which is not in this schema: not declared."
                )
                ent.key_columns.update(fk.columns)
                continue
            add_relationship(ent, dst, fk.columns, fk.ref_columns, "declared foreign key")
    # Guessed joins, only for columns no declared foreign key covers.
    pk_owner = {e.primary_key.lower(): e for e in entities.values() if e.primary_key and e.primary_key.lower() != "id"}
    for ent in entities.values():
        declared = {c for fk in ent.table.foreign_keys for c in fk.columns}
        for col in ent.table.columns:
            low = col.name.lower()
            if col.name in declared or col.name == ent.primary_key or not low.endswith("_id"):
                continue
            dst = pk_owner.get(low)
            if dst is None:
                stem = low[:-3]
                dst = next(
                    (e for e in entities.values() if e.primary_key == "id" and stem in (e.name, _singular(e.name))),
                    None,
                )
            if dst is not None and dst.name != ent.name:
                add_relationship(ent, dst, (col.name,), (dst.primary_key,), "guess: same-named key column")
                notes.append(
                    f"{ent.name}.{col.name} -> {dst.name}.{dst.primary_key} is a guessed join (no foreign key is "
                    "declared): check the values match, then keep or delete the relationship."
                )

    # -- dimensions and time dimensions -----------------------------------------------------------
    dimensions: dict[str, dict] = {}
    time_dimensions: dict[str, dict] = {}
    dim_of: dict[tuple[str, str], str] = {}  # (entity, column) -> dimension name
    for ent in entities.values():  # display dimensions first: they own the entity names
        label = _words(_singular(ent.name))
        if ent.display is not None:
            spec: dict = {"entity": ent.name, "column": ent.display.name, "label": label}
            synonyms = [label, _plural(label)]
            for stem in fk_stems.get(ent.name, []):
                words = stem.replace("_", " ")
                if stem not in (ent.name, _singular(ent.name)):
                    synonyms += [words, _plural(words)]
            spec["synonyms"] = list(dict.fromkeys(synonyms))
            dimensions[ent.name] = spec
            dim_of[(ent.name, ent.display.name)] = ent.name
        elif ent.primary_key is not None:
            dimensions[ent.name] = {"entity": ent.name, "column": ent.primary_key, "label": label, "link_values": False}
            dim_of[(ent.name, ent.primary_key)] = ent.name
    column_tables = Counter(
        _snake(c.name) for e in entities.values() for c in e.table.columns if c.name not in e.key_columns
    )
    for ent in entities.values():
        for col in ent.table.columns:
            if (ent.name, col.name) in dim_of or col.name in ent.key_columns:
                continue
            if not IDENT_RE.match(col.name):
                notes.append(f"{ent.name}.{col.name}: the column name needs quoting; left out.")
                continue
            if col.category == "number" and (col.name.lower() == "id" or col.name.lower().endswith("_id")):
                continue  # a numeric id that is no declared key: not a quantity to sum or group by
            if col.category == "other":
                notes.append(f"{ent.name}.{col.name} ({col.data_type}): type not handled; left out.")
                continue
            base = _snake(col.name)
            name = base if column_tables[base] == 1 else f"{ent.name}_{base}"
            if name in dimensions or name in time_dimensions:
                name = f"{ent.name}_{base}"
            n = 2
            while name in dimensions or name in time_dimensions:
                name, n = f"{ent.name}_{base}_{n}", n + 1
            label = _words(col.name)
            if col.category == "date":
                time_dimensions[name] = {"entity": ent.name, "column": col.name, "label": label, "synonyms": [label]}
                dim_of[(ent.name, col.name)] = name
                continue
            spec = {"entity": ent.name, "column": col.name, "label": label}
            if col.category == "number":
                spec["type"] = "number"
                spec["link_values"] = False
                if _is_amount(col):
                    spec["unit"] = "usd"
            elif col.category == "boolean":
                spec["type"] = "boolean"
                spec["link_values"] = False
            else:
                synonyms = [label]
                if label.endswith(" name") and len(label) > 8:
                    synonyms.append(label[: -len(" name")])
                spec["synonyms"] = synonyms
                if not col.samples:
                    spec["link_values"] = False
            dimensions[name] = spec
            dim_of[(ent.name, col.name)] = name
    usd_guesses = [n for n, d in dimensions.items() if d.get("unit") == "usd"]
    if usd_guesses:
        notes.append(
            f"Units of {', '.join(usd_guesses)} are guessed as USD: check the currency and scale "
            "(an annual revenue may be in millions: unit usd_millions)."
        )
    many = [
        f"{e.name}.{c.name}"
        for e in entities.values()
        for c in e.table.columns
        if c.many_values and dimensions.get(dim_of.get((e.name, c.name), ""), {}).get("link_values") is False
    ]
    if many:
        notes.append(
            f"Text columns with more than 50 distinct values are not linked to question words "
            f"({', '.join(many)}): set link_values: true on the ones people name in questions."
        )

    # -- aliases ----------------------------------------------------------------------------------
    alias_notes: list[str] = []
    for ent in entities.values():
        for col in ent.table.columns:
            dim = dim_of.get((ent.name, col.name))
            if dim is None or dim not in dimensions or not col.samples:
                continue
            within = near_duplicate_aliases(col.samples)
            from_reference: dict[str, str] = {}
            for rel in relationships:
                target = entities[rel["to"]]
                if rel["from"] != ent.name or target.display is None or not target.display.samples:
                    continue
                ref_aliases, share = reference_aliases(col.values(), target.display.values())
                if share >= REFERENCE_MATCH_SHARE:
                    notes.append(
                        f"{ent.name}.{col.name} repeats the names of {target.name} ({target.display.name}), which "
                        f"{ent.name} reaches through {', '.join(rel['keys'])}: group by dimension {target.name} "
                        f"instead; consider link_values: false or deleting dimension {dim}."
                    )
                    from_reference = ref_aliases
                    break
            found = {**{k: v for k, v in within.items() if k not in from_reference}, **from_reference}
            for raw, canon in found.items():
                where = f"spelled as in {target.name}.{target.display.name}" if raw in from_reference else "near-duplicate values of one column"
                alias_notes.append(f"`{raw}` -> `{canon}` ({dim}: {where})")
            if found:
                dimensions[dim]["aliases"] = dict(sorted(found.items()))
    if alias_notes:
        notes.append("Proposed value aliases (check each: an alias merges two values): " + "; ".join(alias_notes) + ".")

    # -- stages -----------------------------------------------------------------------------------
    stages: dict | None = None
    stage_entity: _Entity | None = None
    candidates: list[tuple[int, int, _Entity, ColumnInfo]] = []
    for ent in entities.values():
        for col in ent.table.columns:
            low = col.name.lower()
            if col.samples and ("stage" in low or "status" in low) and (ent.name, col.name) in dim_of:
                values = col.values()
                if any(_WON.search(v) for v in values) and any(_LOST.search(v) for v in values):
                    candidates.append((0 if "stage" in low else 1, -max(ent.table.row_count, 0), ent, col))
    if candidates:
        candidates.sort(key=lambda c: (c[0], c[1], c[2].name, c[3].name))
        _, _, stage_entity, stage_col = candidates[0]
        values = stage_col.values()  # most frequent first
        won = [v for v in values if _WON.search(v)]
        lost = [v for v in values if _LOST.search(v) and v not in won]
        unclear = [v for v in values if v not in won and v not in lost and _CLOSED_WORD.search(v)]
        open_ = [v for v in values if v not in won and v not in lost and v not in unclear]
        stage_dim = dim_of[(stage_entity.name, stage_col.name)]
        stages = {"dimension": stage_dim, "open": open_, "won": won, "lost": lost, "order": [*open_, *won, *lost]}
        dimensions[stage_dim]["synonyms"] = list(dict.fromkeys([*dimensions[stage_dim].get("synonyms", []), "stage", "stages", "deal stage"]))
        notes.append(
            f"Stages (guess) from {stage_entity.name}.{stage_col.name}: won {won}, lost {lost}, open {open_}. "
            "The open stages are in frequency order, not pipeline order: put them in order and add win "
            "probabilities (stages.probabilities, 0-100)."
        )
        if unclear:
            notes.append(f"Stage values {unclear} say closed but neither won nor lost: they are left out of every group.")
        if len(candidates) > 1:
            others = ", ".join(f"{c[2].name}.{c[3].name}" for c in candidates[1:])
            notes.append(f"Other stage-like columns were not used: {others}.")
    else:
        notes.append(
            "No stage column was recognised (a text column named like stage or status whose values include "
            "won and lost): declare stages, then won/lost measures and a win rate by hand."
        )

    # -- measures and metrics ---------------------------------------------------------------------
    measures: dict[str, dict] = {}
    metrics: dict[str, dict] = {}

    def created_td(ent: _Entity) -> str | None:
        dates = _date_columns(ent.table)
        pick = next((c for c in dates if _CREATED.search(c.name.lower())), dates[0] if dates else None)
        return dim_of.get((ent.name, pick.name)) if pick else None

    def closed_td(ent: _Entity) -> str | None:
        pick = next((c for c in _date_columns(ent.table) if _CLOSED.search(c.name.lower())), None)
        return dim_of.get((ent.name, pick.name)) if pick else created_td(ent)

    def add(name: str, measure: dict, description: str, *, metric_extra: dict | None = None) -> None:
        measure = {k: v for k, v in measure.items() if v is not None}
        measures[name] = measure
        metrics[name] = {"measure": name, "label": measure["label"], "synonyms": [measure["label"]],
                         "unit": measure.get("unit", ""), "description": description, **(metric_extra or {})}

    for ent in entities.values():
        plural = _plural(_words(_singular(ent.name)))
        td = created_td(ent)
        add(f"{ent.name}_count", {"entity": ent.name, "agg": "count", "label": plural, "unit": "count", "time_dimension": td},
            f"count of {ent.table.name} rows" + (f", by {time_dimensions[td]['label']}" if td else ""))
        for col in ent.table.columns:
            dim = dim_of.get((ent.name, col.name))
            if dim is None or not _is_amount(col) or dim not in dimensions:
                continue
            label = dimensions[dim]["label"]
            unit = dimensions[dim].get("unit", "")
            add(f"{dim}_sum", {"entity": ent.name, "agg": "sum", "dimension": dim, "label": f"total {label}", "unit": unit, "time_dimension": td},
                f"sum of {ent.table.name}.{col.name}")
            add(f"{dim}_avg", {"entity": ent.name, "agg": "avg", "dimension": dim, "label": f"average {label}", "unit": unit, "time_dimension": td},
                f"mean of {ent.table.name}.{col.name}")
    if stages is not None and stage_entity is not None:
        e = stage_entity.name
        td_closed, singular = closed_td(stage_entity), _words(_singular(e))
        for group, td in (("won", td_closed), ("lost", td_closed), ("closed", td_closed), ("open", None)):
            add(f"{group}_count", {"entity": e, "agg": "count", "stage_group": group, "label": f"{group} {_plural(singular)}",
                                   "unit": "count", "time_dimension": td},
                f"count of {group} {_plural(singular)}" + (f", by {time_dimensions[td]['label']}" if td else " (a snapshot)"))
        metrics["win_rate"] = {
            "numerator": "won_count", "denominator": "closed_count", "label": "win rate",
            "synonyms": ["win rate", "win ratio", "close rate"], "unit": "percent",
            "description": "won / (won + lost) x 100, closed only",
        }
        amount = next((c for c in stage_entity.table.columns if _is_amount(c) and dim_of.get((e, c.name)) in dimensions), None)
        if amount is not None:
            dim = dim_of[(e, amount.name)]
            unit = dimensions[dim].get("unit", "")
            add(f"won_{dim}", {"entity": e, "agg": "sum", "dimension": dim, "stage_group": "won", "label": f"won {dimensions[dim]['label']}",
                               "unit": unit, "time_dimension": td_closed},
                f"sum of {stage_entity.table.name}.{amount.name} of won {_plural(singular)}")
            add(f"won_{dim}_avg", {"entity": e, "agg": "avg", "dimension": dim, "stage_group": "won",
                                   "label": f"average won {dimensions[dim]['label']}", "unit": unit, "time_dimension": td_closed},
                f"mean of {stage_entity.table.name}.{amount.name} of won {_plural(singular)}")
        notes.append(
            "Measures and metrics are generic (counts, sums, averages, won/lost counts, win rate): rename them "
            "to the words people use, add synonyms, and add what the business means (pipeline value, sales cycle...)."
        )

    front_matter: dict = {
        "kind": "semantic_model",
        "title": title,
        "rule_set": "semantic_model",
        "semantic_model_version": 2,
        "entities": {
            e.name: {k: v for k, v in {
                "table": e.table.name,
                "primary_key": e.primary_key,
                "display": e.display.name if e.display is not None else e.primary_key,
                "label": _words(_singular(e.name)),
            }.items() if v is not None}
            for e in entities.values()
        },
        "relationships": relationships,
        "dimensions": dimensions,
        "time_dimensions": time_dimensions,
        "measures": measures,
        "metrics": metrics,
    }
    if stages is not None:
        front_matter["stages"] = stages
    parse_semantic_model(front_matter)
    markdown = _markdown(description, front_matter, entities, rel_source, notes, title)
    return front_matter, markdown, notes


def _markdown(description: SchemaInfo, fm: dict, entities: dict[str, _Entity], rel_source: list[str], notes: list[str], title: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"> **Draft** proposed by `manage.py semantic_model_draft` from schema `{description.schema}` on "
        f"{dt.date.today().isoformat()}. The agents build every warehouse query from the front matter above: "
        "check each item under \"What to check\", run `manage.py semantic_model_check`, then publish.",
        "",
        "## What to check",
        "",
    ]
    lines += [f"- {n}" for n in notes] or ["- Nothing was guessed."]
    lines += ["", "## Tables", "", "| entity | table | rows | primary key | display | what one row is |", "| --- | --- | --- | --- | --- | --- |"]
    for name, e in entities.items():
        rows = f"{e.table.row_count:,}" + ("" if e.table.row_count_exact else " (estimate)") if e.table.row_count >= 0 else "unknown"
        pk = f"`{e.primary_key}`" + (" (guess)" if e.pk_guessed else "") if e.primary_key else "none"
        display = fm["entities"][name].get("display")
        lines.append(f"| {name} | `{e.table.name}` | {rows} | {pk} | {f'`{display}`' if display else 'none'} | one {fm['entities'][name]['label']} (check) |")
    lines += ["", "## Relationships", ""]
    if fm["relationships"]:
        lines += ["| from | to | keys | cardinality | source |", "| --- | --- | --- | --- | --- |"]
        for rel, how in zip(fm["relationships"], rel_source):
            keys = ", ".join(f"`{a}` = `{b}`" for a, b in rel["keys"].items())
            lines.append(f"| {rel['from']} | {rel['to']} | {keys} | {rel['cardinality']} | {how} |")
    else:
        lines.append("None found: declare the joins by hand (relationships).")
    stages = fm.get("stages")
    lines += ["", "## Stage values", ""]
    if stages:
        lines += [
            f"Guessed from dimension `{stages['dimension']}` (check every row):",
            "",
            "| value | group (guess) |",
            "| --- | --- |",
        ]
        for group in ("open", "won", "lost"):
            lines += [f"| {v} | {group} |" for v in stages[group]]
        lines += ["", "Win rate = won / (won + lost), over closed records only."]
    else:
        lines.append("No stage column recognised.")
    aliased = {n: d["aliases"] for n, d in fm["dimensions"].items() if d.get("aliases")}
    lines += ["", "## Value aliases", ""]
    if aliased:
        lines += ["Each alias makes the warehouse value on the left count as the value on the right (proposed; check):", ""]
        for dim, aliases in aliased.items():
            lines += [f"- `{dim}`: " + ", ".join(f"`{a}` -> `{b}`" for a, b in aliases.items())]
    else:
        lines.append("None proposed.")
    return "\n".join(lines) + "\n"


def semantic_model_document(front_matter: dict, markdown: str) -> str:
    """The KB document body: ``---``, the front matter as block-style YAML (key order kept), ``---``,
    then ``markdown``."""
    text = yaml.safe_dump(front_matter, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)
    return f"---\n{text}---\n{markdown.lstrip(chr(10))}"
