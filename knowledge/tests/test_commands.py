"""kb_reembed and kb_eval."""

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from knowledge.models import KnowledgeBaseSettings
from knowledge.tests.factories import make_document, run_on_commit
from knowledge.transfer import documents_import, read_folder

DEMO_DOCS = Path(__file__).resolve().parent.parent / "demo_docs"


def test_kb_reembed_now_switches_the_model(world_a, world_b, monkeypatch, capsys):
    from knowledge import embedders
    from knowledge.tests.test_versions_and_models import Hashing64

    monkeypatch.setitem(embedders._FACTORIES, "test64", Hashing64)
    make_document(tenant=world_a.tenant, title="Stages", body="# Stages\n\nNegotiate 75%.\n")
    call_command("kb_reembed", tenant=world_a.tenant.slug, embedder="test64", now=True)
    assert "1 document(s) re-embedded; now served by test64" in capsys.readouterr().out
    assert KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant).embedder == "test64"
    call_command("kb_reembed", tenant=world_a.tenant.slug, embedder="test64")
    assert "already served by test64" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Unknown knowledge-base embedder"):
        call_command("kb_reembed", tenant=world_a.tenant.slug, embedder="nope")
    with pytest.raises(CommandError, match="unknown tenant"):
        call_command("kb_reembed", tenant="nope", embedder="hashing")


def test_kb_eval_reports_quality_for_a_tenant_with_the_demo_documents(world_a, capsys):
    with pytest.raises(CommandError, match="lacks demo documents"):
        call_command("kb_eval", tenant=world_a.tenant.slug)
    with run_on_commit():
        documents_import(tenant=world_a.tenant, files=read_folder(DEMO_DOCS))
    call_command("kb_eval", tenant=world_a.tenant.slug)
    out = capsys.readouterr().out
    assert "hashing-384 hybrid: recall@1" in out and "hashing-384 text" in out
