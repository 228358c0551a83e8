"""Charts delivered (issue 11 part 6; issue 10 item 7 "an attached image when wide"): the run detail
lists each chart with its alt text, data and PNG URL; the PNG endpoint is tenant-scoped; Slack
answers get their charts and wide tables uploaded into the thread through the real ``slack_sdk``
client against the local fake Slack; the admin run page shows the charts.

Expected figures are summed straight from the demo CRM's CSV files, never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections import defaultdict

import pytest
from PIL import Image
from slack_sdk.signature import SignatureVerifier

from agents.charts import ChartSpec, alt_text, render_png
from agents.models import Run, RunStatus
from agents.slack_replies import SLACK_ALT_TXT_CHARS, slack_alt_text, slack_post_ack, slack_post_answer
from agents.table_image import table_image_size
from agents.tests.conftest import CRM_DIR, read_csv
from agents.tests.runs import ask
from integrations.services import credential_set
from integrations.tests.test_slack_events import ROOT_TS, _queued_run
from tenants.context import tenant_context

URL = "/api/v1/runs"


# --- independent figures ---------------------------------------------------------------------------


def _won_by_product() -> dict[str, float]:
    """Closed-won value per product from the CSV; the demo semantic model spells ``GTXPro`` as ``GTX Pro``."""
    totals: dict[str, float] = defaultdict(float)
    with open(CRM_DIR / "sales_pipeline.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["deal_stage"] == "Won":
                totals["GTX Pro" if row["product"] == "GTXPro" else row["product"]] += int(row["close_value"])
    return dict(totals)


def _decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _has_ink(image: Image.Image) -> bool:
    colours = image.convert("RGB").getcolors(maxcolors=10_000_000)
    white = sum(count for count, rgb in colours if rgb == (255, 255, 255))
    return white < 0.95 * image.size[0] * image.size[1] and len(colours) > 10


def _ask(client, demo, query: str, capture) -> dict:
    with capture(execute=True):
        response = client.post(URL, data=json.dumps({"query": query}), content_type="application/json", **demo.auth())
    assert response.status_code == 202, response.content
    detail = client.get(f"{URL}/{response.json()['tracking_id']}", **demo.auth())
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "succeeded", body["error"]
    return body


# --- API -------------------------------------------------------------------------------------------


def test_run_detail_lists_the_chart_with_alt_text_data_and_png(client, demo, django_capture_on_commit_callbacks):
    body = _ask(client, demo, "won revenue by product", django_capture_on_commit_callbacks)
    expected = _won_by_product()
    [chart] = body["charts"]
    assert set(chart) == {"title", "kind", "unit", "alt_text", "url", "data", "source_ref"}
    assert chart["kind"] == "bar" and chart["unit"] == "USD"
    # The data table is the CSV's figures, one row per product.
    assert chart["data"]["unit"] == "USD" and len(chart["data"]["columns"]) == 2
    assert {row[0]: row[1] for row in chart["data"]["rows"]} == expected
    # The alt text states every figure.
    for product, value in expected.items():
        assert f"{product}: ${value:,.0f}" in chart["alt_text"]
    assert f"[{chart['source_ref']}]" in body["answer"]
    assert chart["url"] == f"http://testserver/api/v1/runs/{body['tracking_id']}/charts/1.png"

    png = client.get(chart["url"], **demo.auth())
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png["Cache-Control"] == "private, max-age=86400"
    image = _decode(png.content)
    assert image.format == "PNG" and image.size == (1000, 560) and _has_ink(image)
    # A client that asks for a PNG explicitly gets it too.
    assert client.get(chart["url"], HTTP_ACCEPT="image/png", **demo.auth()).status_code == 200


def test_chart_png_is_404_for_another_tenant_an_unknown_chart_and_a_run_without_charts(client, demo, world_b, django_capture_on_commit_callbacks):
    body = _ask(client, demo, "won revenue by product", django_capture_on_commit_callbacks)
    base = f"{URL}/{body['tracking_id']}/charts"
    other = client.get(f"{base}/1.png", **world_b.auth())
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    for n in (0, 2, 99):
        missing = client.get(f"{base}/{n}.png", HTTP_ACCEPT="image/png", **demo.auth())
        # Errors are JSON in the one error shape, whatever the client accepts.
        assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
        assert missing.json()["error"]["code"] == "not_found"
    assert client.get(f"{base}/1.png").status_code == 401

    single = _ask(client, demo, "total won revenue in 2024", django_capture_on_commit_callbacks)
    assert single["charts"] == []
    assert client.get(f"{URL}/{single['tracking_id']}/charts/1.png", **demo.auth()).status_code == 404
    assert client.get(f"{URL}/00000000-0000-0000-0000-000000000000/charts/1.png", **demo.auth()).status_code == 404


def test_schema_types_the_charts_and_the_png_endpoint(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    chart = schema["components"]["schemas"]["Chart"]["properties"]
    assert set(chart) == {"title", "kind", "unit", "alt_text", "url", "data", "source_ref"}
    detail = schema["components"]["schemas"]["RunDetail"]["properties"]["charts"]
    assert detail["type"] == "array" and detail["items"]["$ref"].endswith("/Chart")
    png = schema["paths"]["/api/v1/runs/{tracking_id}/charts/{n}.png"]["get"]["responses"]
    assert "image/png" in png["200"]["content"] and "404" in png


# --- Slack -----------------------------------------------------------------------------------------


def _chart_spec() -> ChartSpec:
    totals = dict(sorted(_won_by_product().items()))
    return ChartSpec(kind="bar", title="Won revenue by product", categories=list(totals), series=[{"name": "Won revenue", "values": list(totals.values())}], unit="USD", x_label="product", source_ref=1)


def _wide_table_markdown() -> tuple[str, list[dict]]:
    """An answer with a six-column table of the first eight won deals (too wide for Slack's fields)."""
    rows = [r for r in read_csv("sales_pipeline") if r["deal_stage"] == "Won"][:8]
    lines = ["Won deals [1]", "", "| Opportunity | Sales agent | Product | Account | Close date | Close value |", "|---|---|---|---|---|---:|"]
    lines += [f"| {r['opportunity_id']} | {r['sales_agent']} | {r['product']} | {r['account']} | {r['close_date']} | ${int(r['close_value']):,} |" for r in rows]
    return "\n".join(lines) + "\n\n### Sources\n[1] sales pipeline query", rows


def _answer_text(fake) -> str:
    return "\n".join(json.dumps(m.get("blocks"), ensure_ascii=False) + m.get("text", "") for m in fake.thread())


def test_chart_arrives_once_in_the_thread_after_the_answer_with_its_alt_text(slack_a, fake_slack):
    spec = _chart_spec()
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="Won revenue by product [1].", charts=[spec.model_dump()])
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run)
        assert slack_post_answer(run=run) == 1
        slack_post_answer(run=run)  # delivered twice (a retry): the chart is not uploaded again
    [upload] = fake_slack.uploads()
    assert (upload.channel, upload.thread_ts, upload.filename, upload.title) == ("C0CHAN", ROOT_TS, "chart-1.png", "Won revenue by product")
    assert _decode(upload.data).size == (1000, 560) and _has_ink(_decode(upload.data))
    assert upload.alt_txt == alt_text(spec)
    for product, value in _won_by_product().items():
        assert f"{product}: ${value:,.0f}" in upload.alt_txt
    # After the answer: the first completed upload follows the update that put the answer in place.
    methods = [r.method for r in fake_slack.requests]
    first_answer = next(i for i, r in enumerate(fake_slack.requests) if r.method == "chat.update" and "Won revenue by product" in r.body.get("text", ""))
    assert methods.index("files.completeUploadExternal") > first_answer
    assert methods.count("files.completeUploadExternal") == 1
    stored = Run.objects.unscoped().get(pk=run.pk).reply_to["slack"]["files"]
    assert stored == [{"name": "chart-1.png", "title": "Won revenue by product", "ok": True, "error": ""}]


def test_wide_table_is_kept_as_text_and_attached_as_an_image(slack_a, fake_slack):
    markdown, rows = _wide_table_markdown()
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown=markdown)
    with tenant_context(slack_a.tenant):
        assert slack_post_answer(run=run) == 1
    text = _answer_text(fake_slack)
    assert "Full table in the attached image 1." in text
    for r in rows:  # every row stays readable as text
        assert r["opportunity_id"] in text and r["account"] in text
    [upload] = fake_slack.uploads()
    assert upload.filename == "table-1.png" and upload.thread_ts == ROOT_TS
    header = ["Opportunity", "Sales agent", "Product", "Account", "Close date", "Close value"]
    cells = [[r["opportunity_id"], r["sales_agent"], r["product"], r["account"], r["close_date"], f"${int(r['close_value']):,}"] for r in rows]
    image = _decode(upload.data)
    assert image.size == table_image_size(header, cells) and _has_ink(image)
    assert "8 rows" in upload.alt_txt and "Close value" in upload.alt_txt


def test_narrow_answer_has_no_image_note_and_uploads_nothing(slack_a, fake_slack):
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown="| Stage | Deals |\n|---|---:|\n| Won | 4 |\n| Lost | 2 |")
    with tenant_context(slack_a.tenant):
        assert slack_post_answer(run=run) == 1
    assert fake_slack.uploads() == [] and "attached image" not in _answer_text(fake_slack)
    assert fake_slack.calls("files.getUploadURLExternal") == []


@pytest.mark.parametrize(
    ("failure", "recorded"),
    [("missing_scope", "missing_scope"), ("upload_status", "upload failed (HTTP 500)"), ("not_in_channel", "not_in_channel")],
    ids=["no-files-write-scope", "upload-url-fails", "complete-refused"],
)
def test_a_failing_upload_keeps_the_answer_and_is_recorded(slack_a, fake_slack, failure, recorded):
    if failure == "missing_scope":
        fake_slack.errors["files.getUploadURLExternal"] = "missing_scope"
    elif failure == "upload_status":
        fake_slack.upload_status = 500
    else:
        fake_slack.errors["files.completeUploadExternal"] = "not_in_channel"
    markdown, _ = _wide_table_markdown()
    run = _queued_run(slack_a, status=RunStatus.SUCCEEDED, answer_markdown=markdown, charts=[_chart_spec().model_dump()])
    with tenant_context(slack_a.tenant):
        assert slack_post_ack(run=run)
        assert slack_post_answer(run=run) == 1
    assert fake_slack.uploads() == []
    assert "Won deals" in _answer_text(fake_slack)  # the text answer is in the thread
    files = Run.objects.unscoped().get(pk=run.pk).reply_to["slack"]["files"]
    # Both files were tried: one failure does not stop the next.
    assert [(f["name"], f["ok"], f["error"]) for f in files] == [("chart-1.png", False, recorded), ("table-1.png", False, recorded)]


def test_alt_text_is_cut_to_slacks_limit_after_a_whole_figure():
    categories = [f"Account number {i:02d} with a long name" for i in range(30)]
    spec = ChartSpec(title="Pipeline by account", categories=categories, series=[{"name": "Pipeline", "values": [1_000_000.0 + i for i in range(30)]}], unit="USD")
    full = alt_text(spec)
    assert len(full) > SLACK_ALT_TXT_CHARS
    cut = slack_alt_text(full)
    assert len(cut) <= SLACK_ALT_TXT_CHARS and cut.endswith("every figure is in the run's chart data)")
    kept = cut.split(" … ")[0]
    assert full.startswith(kept) and re.search(r": \$1,000,0\d\d$", kept)  # ends on a whole figure


SECRET = "demo-signing-secret-0123456789abcdef"
TOKEN = "xoxb-demo-bot-token-0000000000"


def test_slack_question_end_to_end_gets_the_chart_in_its_thread(client, demo, fake_slack, django_capture_on_commit_callbacks):
    credential_set(tenant=demo.tenant, kind="slack", config={"team_id": "T0DEMO", "bot_user_id": "U0BOT"}, secrets={"signing_secret": SECRET, "bot_token": TOKEN})
    body = json.dumps({
        "type": "event_callback", "team_id": "T0DEMO", "event_id": "EvChart1",
        "event": {"type": "app_mention", "user": "U0HUMAN", "text": "<@U0BOT> won revenue by product", "channel": "C0DEALS", "ts": "1751300000.000200"},
    }).encode()
    ts = str(int(time.time()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/slack/events/demo", data=body, content_type="application/json", HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
            HTTP_X_SLACK_SIGNATURE=SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body),
        )
    assert response.status_code == 200
    [upload] = fake_slack.uploads()
    assert (upload.channel, upload.thread_ts) == ("C0DEALS", "1751300000.000200")
    for product, value in _won_by_product().items():
        assert f"{product}: ${value:,.0f}" in upload.alt_txt
    assert _decode(upload.data).size == (1000, 560)
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake_slack.calls("files.completeUploadExternal"))


# --- admin run page --------------------------------------------------------------------------------


def test_admin_run_page_shows_each_chart_with_alt_text_and_data(client, demo, world_b):
    from django.contrib.auth import get_user_model
    from django.utils.html import escape

    from tenants.models import Membership

    viewer = get_user_model().objects.create_user("chart-viewer", password="x", is_staff=True)
    Membership.objects.create(user=viewer, tenant=demo.tenant, role="viewer")
    run = ask(demo.tenant, "won revenue by product")
    assert run.status == "succeeded" and len(run.charts) == 1
    client.force_login(viewer)
    html = client.get(f"/admin/agents/run/{run.pk}/change/").content.decode()
    src = f"/admin/agents/run/{run.pk}/charts/1.png"
    assert f'<img src="{src}"' in html
    charts = html[html.index("revops-charts"):]
    for product, value in _won_by_product().items():
        assert escape(f"{product}: ${value:,.0f}") in charts  # the alt text
        assert f"<td>{escape(product)}</td><td style=\"text-align:right\">${value:,.0f}</td>" in charts  # the data table
    png = client.get(src)
    assert png.status_code == 200 and png["Content-Type"] == "image/png" and png["Cache-Control"].startswith("private")
    assert _decode(png.content).size == (1000, 560)
    assert client.get(f"/admin/agents/run/{run.pk}/charts/2.png").status_code == 404
    # Another tenant's member: 404; anonymous: sent to the login page, no image.
    client.force_login(world_b.editor)
    assert client.get(src).status_code == 404
    client.logout()
    anonymous = client.get(src)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
