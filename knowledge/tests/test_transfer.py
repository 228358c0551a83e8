"""Bulk import/export of markdown files (services and the kb_import / kb_export commands)."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import KnowledgeDocument, KnowledgeDocumentVersion
from knowledge.tests.factories import make_document, run_on_commit
from knowledge.transfer import (
    ImportSourceError,
    documents_export,
    documents_import,
    export_text,
    read_folder,
    read_zip,
)

DEMO_DOCS = Path(__file__).resolve().parent.parent / "demo_docs"


def docs_of(tenant):
    return {d.title: d for d in KnowledgeDocument.objects.unscoped().filter(tenant=tenant)}


def test_import_reads_metadata_from_front_matter_heading_or_file_name(world_a):
    files = [
        ("risks.md", "---\ntitle: Risk rules\nkind: business_logic\nstatus: draft\ntags: [deals, Risk]\n---\n# Whatever\n\ntext\n"),
        ("sub/icp_notes.md", "# ICP notes\n\nFrom the first heading.\n"),
        ("plain_file.md", "No heading at all.\n"),
    ]
    with run_on_commit():
        report = documents_import(tenant=world_a.tenant, files=files, user=world_a.editor)
    assert report.created == ["risks.md", "sub/icp_notes.md", "plain_file.md"] and report.ok
    docs = docs_of(world_a.tenant)
    risk = docs["Risk rules"]
    assert (risk.kind, risk.status, risk.tags, risk.body) == ("business_logic", "draft", ["deals", "risk"], files[0][1])
    assert (docs["ICP notes"].kind, docs["ICP notes"].status) == ("other", "published")
    assert "Plain file" in docs
    assert KnowledgeDocumentVersion.objects.unscoped().get(document=risk).note == "imported from risks.md"
    assert all(d.index_status == "indexed" for d in docs.values())


def test_reimport_updates_changed_files_only_and_reports_bad_ones(world_a):
    make_document(tenant=world_a.tenant, title="Kept", body="# Kept\n\nsame\n", kind="other")
    old = make_document(tenant=world_a.tenant, title="Changed", body="# Changed\n\nold\n", kind="other")
    files = [
        ("kept.md", "# Kept\n\nsame\n"),
        ("changed.md", "# Changed\n\nnew\n"),
        ("broken.md", "---\nkind: [oops\n---\n"),
        ("invalid.md", "---\nkind: business_logic\nrule_set: deal_risks\nthresholds: {ghosted_days: -3}\n---\n# Bad\n"),
        ("dup.md", "# Kept\n\nanother file with the same title\n"),
    ]
    report = documents_import(tenant=world_a.tenant, files=files)
    assert (report.unchanged, report.updated) == (["kept.md"], ["changed.md"])
    errors = dict(report.errors)
    assert "Invalid YAML" in errors["broken.md"]
    assert "thresholds.ghosted_days: must be an integer >= 0, got -3" in errors["invalid.md"]
    assert "another file of this import has the title" in errors["dup.md"]
    old.refresh_from_db()
    assert (old.version, old.body) == (2, "# Changed\n\nnew\n")
    assert "Bad" not in docs_of(world_a.tenant)


def test_dry_run_changes_nothing(world_a):
    report = documents_import(tenant=world_a.tenant, files=[("a.md", "# A\n\ntext\n")], dry_run=True)
    assert report.created == ["a.md"]
    assert not KnowledgeDocument.objects.unscoped().exists()


def test_export_then_import_is_a_round_trip_without_new_versions(world_a, world_b):
    with run_on_commit():
        documents_import(tenant=world_a.tenant, files=read_folder(DEMO_DOCS))
    doc = docs_of(world_a.tenant)["Deal health score"]
    doc.tags, doc.status = ["deals"], "draft"
    doc.save()  # metadata that the front matter does not carry yet
    plain = make_document(tenant=world_a.tenant, title="Notes", body="Some notes without front matter.\n")
    exported = dict(documents_export(KnowledgeDocument.objects.unscoped().filter(tenant=world_a.tenant).order_by("title")))
    assert len(exported) == len(list(DEMO_DOCS.glob("*.md"))) + 1  # the demo documents and "Notes"
    health = exported["deal-health-score.md"]
    assert health.startswith("---\nstatus: draft\ntags:\n- deals\nkind: business_logic\n")
    assert "# Each dimension is worth 25 points" in health  # comments in the front matter survive
    assert exported["notes.md"] == "---\ntitle: Notes\nkind: business_logic\n---\n" + plain.body
    assert exported["deal-risk-warnings.md"] == docs_of(world_a.tenant)["Deal risk warnings"].body  # already complete
    # Into another tenant: the same documents.
    report = documents_import(tenant=world_b.tenant, files=list(exported.items()))
    assert len(report.created) == len(exported) and report.ok
    b_docs = docs_of(world_b.tenant)
    for title, a_doc in docs_of(world_a.tenant).items():
        assert (b_docs[title].kind, b_docs[title].status, b_docs[title].tags) == (a_doc.kind, a_doc.status, a_doc.tags)
    # Exporting B and importing into B again changes nothing.
    again = documents_import(tenant=world_b.tenant, files=documents_export(b_docs.values()))
    assert len(again.unchanged) == len(exported) and not again.created and not again.updated


def test_export_rewrites_a_disagreeing_kind_line(world_a):
    document = make_document(tenant=world_a.tenant, title="Rules", body="---\nrule_set: custom\nkind: other\n---\n# Rules\n", kind="other")
    document.kind = "workflow"  # e.g. changed by a data migration
    text = export_text(document)
    assert text.startswith("---\nkind: workflow\nrule_set: custom\n---\n# Rules")


def test_zip_reading_and_limits(monkeypatch):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("kb/a.md", "# A\n")
        archive.writestr("kb/image.png", b"\x89PNG")
        archive.writestr("__MACOSX/kb/._a.md", "junk")
    assert read_zip(buffer.getvalue()) == [("kb/a.md", "# A\n")]
    with pytest.raises(ImportSourceError, match="not a zip"):
        read_zip(b"not a zip")
    monkeypatch.setattr("knowledge.transfer.MAX_FILE_BYTES", 2)
    with pytest.raises(ImportSourceError, match="larger than"):
        read_zip(buffer.getvalue())


def test_kb_import_and_kb_export_commands(world_a, world_b, tmp_path, capsys):
    with run_on_commit():
        call_command("kb_import", str(DEMO_DOCS), tenant=world_a.tenant.slug)
    assert f"acme-a: {len(list(DEMO_DOCS.glob('*.md')))} created, 0 updated, 0 unchanged, 0 failed" in capsys.readouterr().out
    call_command("kb_export", str(tmp_path / "out"), tenant=world_a.tenant.slug)
    assert len(list((tmp_path / "out").glob("*.md"))) == len(list(DEMO_DOCS.glob("*.md")))
    with pytest.raises(CommandError, match="use --force"):
        call_command("kb_export", str(tmp_path / "out"), tenant=world_a.tenant.slug)
    call_command("kb_export", str(tmp_path / "kb.zip"), tenant=world_a.tenant.slug, kind=["icp"])
    with run_on_commit():
        call_command("kb_import", str(tmp_path / "kb.zip"), tenant=world_b.tenant.slug)
    assert set(docs_of(world_b.tenant)) == {"Ideal customer profile (ICP)"}
    call_command("kb_import", str(tmp_path / "out"), tenant=world_a.tenant.slug)
    assert f"0 created, 0 updated, {len(list(DEMO_DOCS.glob('*.md')))} unchanged" in capsys.readouterr().out
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.md").write_text("---\nstatus: maybe\n---\n")
    with pytest.raises(CommandError, match="1 file"):
        call_command("kb_import", str(tmp_path / "bad"), tenant=world_a.tenant.slug)
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("kb_import", str(tmp_path / "bad"), tenant="nope")
