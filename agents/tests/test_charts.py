"""Charts: the PNG decodes at the promised size and is not blank; the alt text states the figures."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from agents.charts import ChartSpec, alt_text, chart_from_columns, data_table, render_png
from agents.tests.runs import ask

CRM = Path(__file__).resolve().parents[2] / "integrations" / "warehouse" / "demo_crm"


def _won_by_product() -> dict[str, int]:
    """Closed-won value per product, summed straight from the CSV (the independent figures)."""
    totals: dict[str, int] = defaultdict(int)
    with open(CRM / "sales_pipeline.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["deal_stage"] == "Won":
                totals[row["product"]] += int(row["close_value"])
    return dict(sorted(totals.items()))


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_bar_chart_png_has_size_and_ink_and_alt_text_states_every_figure():
    totals = _won_by_product()
    spec = chart_from_columns(title="Won revenue by product", categories=list(totals), series={"Won revenue": list(totals.values())}, unit="USD", x_label="product")
    assert spec is not None and spec.kind == "bar"
    image = _decode(render_png(spec))
    assert image.format == "PNG" and image.size == (1000, 560)
    colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    # Non-blank: besides the white background there is a substantial amount of ink (bars, text).
    white = sum(count for count, rgb in colours if rgb == (255, 255, 255))
    assert white < 0.9 * 1000 * 560 and len(colours) > 20
    text = alt_text(spec)
    for product, value in totals.items():
        assert f"{product}: ${value:,}" in text


def test_line_chart_for_a_time_grain_with_a_gap():
    spec = chart_from_columns(title="Deals won per month", categories=["2025-01", "2025-02", "2025-03"], series={"won": [3, None, 5]}, unit="count", time_grain=True)
    assert spec.kind == "line"
    assert _decode(render_png(spec, width_px=600, height_px=400)).size == (600, 400)
    assert alt_text(spec) == "Line chart: Deals won per month (count). 2025-01: 3; 2025-02: n/a; 2025-03: 5."
    assert data_table(spec) == {"columns": ["category", "won"], "rows": [["2025-01", 3.0], ["2025-02", None], ["2025-03", 5.0]], "unit": "count"}


def test_target_chart_states_the_target():
    spec = ChartSpec(kind="bar_target", title="Forecast vs target", categories=["Won", "Weighted open"], series=[{"name": "USD", "values": [1000.0, 250.5]}], unit="USD", target=2000)
    assert _decode(render_png(spec)).size == (1000, 560)
    assert alt_text(spec).endswith("Target: $2,000.")


def test_no_chart_for_a_single_value_or_no_numbers():
    assert chart_from_columns(title="t", categories=["only"], series={"v": [1]}, unit="USD") is None
    assert chart_from_columns(title="t", categories=["a", "b"], series={"v": ["x", "y"]}, unit="USD") is None


def test_inconsistent_specs_are_refused():
    with pytest.raises(ValidationError, match="2 values for 3 categories"):
        ChartSpec(title="t", categories=["a", "b", "c"], series=[{"name": "s", "values": [1, 2]}])
    with pytest.raises(ValidationError, match="needs a target"):
        ChartSpec(kind="bar_target", title="t", categories=["a", "b"], series=[{"name": "s", "values": [1, 2]}])


# --- Charts offered by answers (the run pipeline on the demo tenant) -------------------------------


def test_a_breakdown_answer_offers_a_bar_chart_of_its_figures(demo):
    run = ask(demo.tenant, "won revenue by product")
    assert run.status == "succeeded", run.error
    assert len(run.charts) == 1
    spec = ChartSpec.model_validate(run.charts[0])
    assert spec.kind == "bar" and spec.unit == "USD"
    expected = {("GTX Pro" if p == "GTXPro" else p): v for p, v in _won_by_product().items()}
    merged: dict[str, int] = defaultdict(int)
    for product, value in expected.items():
        merged[product] += value
    assert dict(zip(spec.categories, spec.series[0].values)) == {k: float(v) for k, v in merged.items()}
    # The chart traces to the query the table came from.
    assert f"[{spec.source_ref}]" in run.answer_markdown
    assert _decode(render_png(spec)).size == (1000, 560)


def test_a_monthly_trend_offers_a_line_chart_and_a_single_figure_none(demo):
    run = ask(demo.tenant, "won deals by month in 2025")
    assert run.status == "succeeded", run.error
    assert [ChartSpec.model_validate(c).kind for c in run.charts] == ["line"]
    spec = ChartSpec.model_validate(run.charts[0])
    # Every month's count equals the CSV's count of deals won in that month of 2025.
    counts: dict[str, int] = defaultdict(int)
    with open(CRM / "sales_pipeline.csv", newline="") as f:
        for row in csv.DictReader(f):
            # 2025 is read to date: the demo tenant's as-of date is 2025-06-30.
            if row["deal_stage"] == "Won" and row["close_date"].endswith("/2025"):
                month = int(row["close_date"].split("/")[0])
                if month <= 6:
                    counts[month] += 1
    assert [v for v in spec.series[0].values] == [float(counts[m]) for m in sorted(counts)]
    assert ask(demo.tenant, "total won revenue in 2024").charts == []
