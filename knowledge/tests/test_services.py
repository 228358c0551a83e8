import pytest
from django.core.exceptions import ValidationError
from django_q.models import Task

from knowledge.models import IndexStatus, KnowledgeChunk, KnowledgeDocument
from knowledge.selectors import document_for_kind, document_params
from knowledge.services import document_index, document_save
from knowledge.tasks import index_document
from knowledge.tests.factories import make_document, update_document

BODY = """---
stalled_in_stage_days: 30
---
# Risk warnings

## Stalled

A deal is stalled after `stalled_in_stage_days` days in one stage.

## Ghosted

No reply from any contact for 14 days.
"""


def chunks_of(document):
    return list(KnowledgeChunk.objects.unscoped().filter(document=document).order_by("position"))


def test_save_creates_document_and_chunks_through_the_task(world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        document = document_save(
            tenant=world_a.tenant, kind="business_logic", title=" Risk warnings ", body=BODY, user=world_a.editor
        )
        assert document.index_status == IndexStatus.PENDING
        assert not chunks_of(document)  # nothing indexed before commit
    assert len(callbacks) == 1
    document.refresh_from_db()
    assert (document.title, document.version, document.updated_by) == ("Risk warnings", 1, world_a.editor)
    assert document.index_status == IndexStatus.INDEXED and document.indexed_at is not None
    chunks = chunks_of(document)
    assert [c.heading_path for c in chunks] == ["Risk warnings > Stalled", "Risk warnings > Ghosted"]
    assert all(c.tenant_id == world_a.tenant.pk and c.embedding_model == "hashing-384" for c in chunks)
    assert len(chunks[0].embedding) == 384
    assert Task.objects.filter(func="knowledge.tasks.index_document", success=True).count() == 1


def test_update_bumps_version_and_reindexes(world_a):
    document = make_document(tenant=world_a.tenant, title="Risk warnings", body=BODY)
    old_ids = {c.pk for c in chunks_of(document)}
    new_body = BODY + "\n## Single-threaded\n\nOnly one contact engaged.\n"
    document = update_document(document, body=new_body, user=world_a.owner)
    assert document.version == 2 and document.updated_by == world_a.owner
    chunks = chunks_of(document)
    assert [c.heading_path for c in chunks][-1] == "Risk warnings > Single-threaded"
    assert not old_ids & {c.pk for c in chunks}  # replaced, not appended


def test_saving_unchanged_content_keeps_the_version(world_a):
    document = make_document(tenant=world_a.tenant, title="Risk warnings", body=BODY)
    document = update_document(document, body=BODY)
    assert document.version == 1
    assert document.index_status == IndexStatus.INDEXED
    assert update_document(document, body=BODY, kind="playbook").version == 2


def test_update_compares_with_the_stored_row_not_the_mutated_instance(world_a):
    document = make_document(tenant=world_a.tenant, title="Risk warnings", body=BODY)
    document.body = "changed"  # what an admin form does before save_model
    saved = document_save(tenant=world_a.tenant, kind=document.kind, title=document.title, body="changed", document=document)
    assert saved.version == 2


def test_invalid_front_matter_is_a_validation_error_and_nothing_is_saved(world_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ValidationError) as excinfo:
            document_save(tenant=world_a.tenant, kind="icp", title="ICP", body="---\nweights: [1, 2\n---\ntext")
    assert "line 3" in str(excinfo.value.message_dict["body"])
    assert not KnowledgeDocument.objects.unscoped().exists()
    assert callbacks == []


def test_invalid_update_leaves_the_stored_row_alone(world_a):
    document = make_document(tenant=world_a.tenant, title="ICP", body=BODY, kind="icp")
    with pytest.raises(ValidationError):
        document_save(tenant=world_a.tenant, kind="icp", title="ICP", body="---\n- a list\n---\n", document=document)
    document.refresh_from_db()
    assert (document.body, document.version, document.index_status) == (BODY, 1, IndexStatus.INDEXED)


def test_duplicate_title_unknown_kind_and_cross_tenant_move_are_refused(world_a, world_b):
    document = make_document(tenant=world_a.tenant, title="ICP", body="text")
    with pytest.raises(ValidationError, match="already exists"):
        document_save(tenant=world_a.tenant, kind="icp", title="ICP", body="other")
    with pytest.raises(ValidationError):
        document_save(tenant=world_a.tenant, kind="gossip", title="New", body="text")
    with pytest.raises(ValidationError, match="another tenant"):
        document_save(tenant=world_b.tenant, kind="icp", title="ICP", body="text", document=document)
    # Same title in another tenant is fine.
    assert make_document(tenant=world_b.tenant, title="ICP", body="text").tenant == world_b.tenant


def test_index_failure_is_recorded(world_a, monkeypatch):
    document = make_document(tenant=world_a.tenant, title="ICP", body="text")

    class Broken:
        name, dimensions = "broken-3", 3

        def embed_documents(self, texts):
            raise RuntimeError("model unavailable")

    monkeypatch.setattr("knowledge.services.get_embedder", lambda spec=None: Broken())
    with pytest.raises(RuntimeError):
        document_index(document=document)
    document.refresh_from_db()
    assert document.index_status == IndexStatus.FAILED
    assert document.index_error == "RuntimeError: model unavailable"
    assert len(chunks_of(document)) == 1  # the previous chunks survive a failed rebuild


def test_stale_indexing_writes_nothing(world_a):
    document = make_document(tenant=world_a.tenant, title="ICP", body="text")
    stale = KnowledgeDocument.objects.unscoped().get(pk=document.pk)
    document_save(tenant=world_a.tenant, kind="icp", title="ICP", body="# New\n\nnew text", document=document)
    assert document_index(document=stale) == 0
    assert chunks_of(document)[0].text == "text"  # untouched; the newer save's task rebuilds


def test_task_ignores_unknown_ids(db, caplog):
    assert index_document(987654) is None
    assert "987654" in caplog.text


def test_task_resolves_the_tenant_for_the_service(world_a):
    document = make_document(tenant=world_a.tenant, title="ICP", body="# A\n\none\n\n# B\n\ntwo")
    assert index_document(document.pk) == 2


def test_document_params_reads_front_matter_of_the_current_tenant(in_tenant_a, world_b):
    assert document_params(kind="business_logic") == ({}, None)
    make_document(tenant=world_b.tenant, title="Risk warnings", body="---\nstalled_in_stage_days: 99\n---\n")
    assert document_params(kind="business_logic") == ({}, None)  # B's document is invisible to A
    document = make_document(tenant=in_tenant_a.tenant, title="Risk warnings", body=BODY)
    assert document_for_kind(kind="business_logic") == document
    assert document_params(kind="business_logic") == ({"stalled_in_stage_days": 30}, document)

