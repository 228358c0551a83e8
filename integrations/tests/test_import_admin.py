"""The admin upload page: preview and import through the same service as the command; owners and
admins only; another tenant's page is a 404."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations.models import ConnectorCredential, ConnectorKind
from integrations.warehouse.duckdb_engine import duckdb_path_for

CRM_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "demo_crm"


def _products() -> list[dict]:
    with open(CRM_DIR / "products.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def _upload(name: str = "Products.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (CRM_DIR / "products.csv").read_bytes(), content_type="text/csv")


@pytest.fixture
def duck_dir(settings, tmp_path):
    settings.WAREHOUSE_DUCKDB_DIR = tmp_path / "warehouses"
    return settings.WAREHOUSE_DUCKDB_DIR


def test_owner_previews_then_imports(client, world_a, duck_dir):
    client.force_login(world_a.owner)
    url = reverse("admin:integrations_warehouse_import", args=[world_a.tenant.slug])
    assert client.get(url).status_code == 200
    preview = client.post(url, {"files": [_upload()], "preview": "Preview"})
    assert preview.status_code == 200
    body = preview.content.decode()
    assert "errorlist" not in body, body[body.find("errorlist"):][:500]
    assert "nothing was written" in body and _products()[0]["product"] in body and f"products ({len(_products())} rows)" in body
    assert not duckdb_path_for(world_a.tenant.slug).exists()
    done = client.post(url, {"files": [_upload()], "import": "Import"})
    assert "semantic_model_draft --tenant acme-a" in done.content.decode()
    conn = duckdb.connect(str(duckdb_path_for(world_a.tenant.slug)), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM products").fetchone() == (len(_products()),)
    finally:
        conn.close()
    assert ConnectorCredential.objects.for_tenant(world_a.tenant).filter(kind=ConnectorKind.WAREHOUSE_DUCKDB).exists()


def test_bad_rows_are_listed_and_nothing_is_written(client, world_a, duck_dir):
    rows = "n\n" + "\n".join(str(i) for i in range(59)) + "\nabc\n"
    client.force_login(world_a.owner)
    url = reverse("admin:integrations_warehouse_import", args=[world_a.tenant.slug])
    response = client.post(url, {"files": [SimpleUploadedFile("counts.csv", rows.encode())], "import": "Import"})
    assert response.status_code == 200
    assert "row 61: n &#x27;abc&#x27; is not a number" in response.content.decode()
    assert not duckdb_path_for(world_a.tenant.slug).exists()
    other = client.post(url, {"files": [SimpleUploadedFile("notes.txt", b"x")], "import": "Import"})
    assert "only .csv and .parquet files" in other.content.decode()


def test_other_tenant_gets_404_and_editor_403(client, world_a, world_b, duck_dir):
    client.force_login(world_b.owner)
    url = reverse("admin:integrations_warehouse_import", args=[world_a.tenant.slug])
    assert client.get(url).status_code == 404
    assert client.post(url, {"files": [_upload()], "import": "Import"}).status_code == 404
    assert client.get(reverse("admin:integrations_warehouse_import", args=["no-such-tenant"])).status_code == 404
    client.force_login(world_a.editor)
    assert client.get(url).status_code == 403
    assert not duckdb_path_for(world_a.tenant.slug).exists()


def test_an_oversized_upload_is_refused_before_the_body_is_read(client, world_a, settings, duck_dir):
    """413 from the size middleware, before CSRF or the view parse (and spool) the multipart body;
    nothing is imported."""
    settings.MAX_UPLOAD_REQUEST_BYTES = 4096
    client.force_login(world_a.owner)
    url = reverse("admin:integrations_warehouse_import", args=[world_a.tenant.slug])
    big = SimpleUploadedFile("big.csv", b"id\n" + b"1\n" * 5000, content_type="text/csv")
    response = client.post(url, {"files": [big], "import": "Import"})
    assert response.status_code == 413 and response["Content-Type"].startswith("text/plain")
    assert b"warehouse_import" in response.content
    assert not (duck_dir / f"{world_a.tenant.slug}.duckdb").exists()
    # A malformed Content-Length outside the API is a 400, not a 500.
    assert client.post(url, {}, CONTENT_LENGTH="many").status_code == 400
