"""Status, tags, version history and restore; several embedding models and re-embedding a tenant
without downtime."""

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection

from knowledge import embedders
from knowledge.embedders import HashingEmbedder
from knowledge.models import (
    DocumentStatus,
    IndexStatus,
    KnowledgeBaseSettings,
    KnowledgeChunk,
    KnowledgeDocument,
    KnowledgeDocumentVersion,
    ReembedStatus,
)
from knowledge.selectors import chunk_search, document_params, serving_embedder
from knowledge.services import document_restore, document_save, kb_embedder_change, kb_reembed, normalise_tags
from knowledge.tests.factories import make_document, run_on_commit, update_document
from knowledge.vector_index import ensure_hnsw_index, index_name

BODY = "# Stages\n\n## Negotiate\n\nDefault probability 75%.\n"


def versions(document):
    return list(KnowledgeDocumentVersion.objects.unscoped().filter(document=document).order_by("version"))


# --- status, tags, versions -------------------------------------------------------------------


def test_every_version_is_kept_with_who_and_what(world_a):
    document = make_document(tenant=world_a.tenant, title="Stages", body=BODY, user=world_a.editor)
    document = update_document(document, body=BODY.replace("75", "70"), user=world_a.owner)
    update_document(document, body=BODY.replace("75", "70"))  # unchanged: no new version
    rows = versions(document)
    assert [(v.version, v.created_by, "70%" in v.body) for v in rows] == [(1, world_a.editor, False), (2, world_a.owner, True)]
    assert all(v.tenant_id == world_a.tenant.pk and v.status == DocumentStatus.PUBLISHED for v in rows)


def test_status_and_tags_changes_make_versions_without_reembedding(world_a, django_capture_on_commit_callbacks):
    document = make_document(tenant=world_a.tenant, title="Stages", body=BODY)
    chunk_ids = set(KnowledgeChunk.objects.unscoped().filter(document=document).values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        saved = document_save(
            tenant=world_a.tenant, kind=document.kind, title=document.title, body=document.body,
            status="draft", tags=" Deals, MEDDPICC ,deals", document=document,
        )
    assert callbacks == []  # no indexing task: status and tags are read from the document row
    assert (saved.version, saved.status, saved.tags, saved.index_status) == (2, "draft", ["deals", "meddpicc"], IndexStatus.INDEXED)
    assert set(KnowledgeChunk.objects.unscoped().filter(document=document).values_list("pk", flat=True)) == chunk_ids
    assert versions(document)[-1].tags == ["deals", "meddpicc"]


def test_callers_without_status_keep_publishing(world_a):
    document = make_document(tenant=world_a.tenant, title="Stages", body=BODY)
    assert document.status == DocumentStatus.PUBLISHED
    draft = document_save(tenant=world_a.tenant, kind="business_logic", title="Stages", body=BODY, status="draft", document=document)
    kept = document_save(tenant=world_a.tenant, kind="business_logic", title="Stages", body=BODY + "\nMore.", document=draft)
    assert kept.status == DocumentStatus.DRAFT  # an update without status keeps the stored one


def test_tags_are_validated():
    assert normalise_tags("a, B ,a,, c  d") == ["a", "b", "c d"]
    with pytest.raises(ValidationError):
        normalise_tags(["<script>"])


def test_restore_writes_a_new_version_and_reindexes(world_a):
    document = make_document(tenant=world_a.tenant, title="Stages", body=BODY, user=world_a.editor)
    document = update_document(document, body="# Stages\n\n## Negotiate\n\nDefault probability 60%.\n")
    with run_on_commit():
        restored = document_restore(document=document, version=1, user=world_a.owner)
    restored.refresh_from_db()
    assert (restored.version, restored.body, restored.updated_by) == (3, BODY, world_a.owner)
    assert versions(restored)[-1].note == "restored from v1"
    assert restored.index_status == IndexStatus.INDEXED
    hit = chunk_search(tenant=world_a.tenant, query="negotiate probability", k=1)[0]
    assert "75%" in hit.text and hit.document_version == 3
    with pytest.raises(KnowledgeDocumentVersion.DoesNotExist):
        document_restore(document=restored, version=99)


def test_restore_refuses_a_title_now_taken(world_a):
    document = make_document(tenant=world_a.tenant, title="Old title", body=BODY)
    document = update_document(document, body=BODY)
    renamed = document_save(tenant=world_a.tenant, kind="business_logic", title="New title", body=BODY, document=document)
    make_document(tenant=world_a.tenant, title="Old title", body="other")
    with pytest.raises(ValidationError, match="already exists"):
        document_restore(document=renamed, version=1)


def test_drafts_are_not_used_by_the_rule_reader(in_tenant_a):
    body = "---\nrule_set: deal_risks\nthresholds: {ghosted_days: 21}\n---\n# Risks\n"
    document = make_document(tenant=in_tenant_a.tenant, title="Risks", body=body)
    assert document_params(kind="business_logic")[1] == document
    document_save(tenant=in_tenant_a.tenant, kind="business_logic", title="Risks", body=body, status="draft", document=document)
    assert document_params(kind="business_logic") == ({}, None)


def test_per_kind_front_matter_validation_on_save(world_a):
    bad = "---\nrule_set: deal_stages\nstages:\n  Negotiate: {probability: 175, requires: [metrics, budget]}\n---\n# x\n"
    with pytest.raises(ValidationError) as excinfo:
        document_save(tenant=world_a.tenant, kind="business_logic", title="Stages", body=bad)
    messages = excinfo.value.message_dict["body"]
    assert "stages.Negotiate.probability: must be a number from 0 to 100, got 175" in messages
    assert any("requires[1]" in m and "'budget'" in m for m in messages)
    with pytest.raises(ValidationError, match="the document kind is 'playbook'"):
        document_save(tenant=world_a.tenant, kind="playbook", title="ICP", body="---\nkind: icp\n---\n")
    assert not KnowledgeDocument.objects.unscoped().exists()


# --- several models and re-embedding -------------------------------------------------------------


class Hashing64(HashingEmbedder):
    """A second model for tests: the same features hashed into 64 dimensions."""

    def __init__(self):
        super().__init__(64)
        self.name = "test-hash-64"


@pytest.fixture
def second_model(monkeypatch):
    monkeypatch.setitem(embedders._FACTORIES, "test64", Hashing64)
    embedders._INSTANCES.clear()
    yield
    embedders._INSTANCES.clear()


def models_of(tenant):
    return set(KnowledgeChunk.objects.unscoped().filter(tenant=tenant).values_list("embedding_model", flat=True))


def test_reembedding_keeps_the_old_model_serving_until_done(world_a, world_b, second_model, django_capture_on_commit_callbacks):
    a1 = make_document(tenant=world_a.tenant, title="Stages", body=BODY)
    make_document(tenant=world_a.tenant, title="Health", body="# Health\n\nBands: Excellent, Good, At risk.\n")
    make_document(tenant=world_b.tenant, title="Stages", body=BODY)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        config = kb_embedder_change(tenant=world_a.tenant, embedder="test64")
    assert (config.embedder, config.pending_embedder, config.reembed_status, config.reembed_total) == ("hashing", "test64", "running", 2)
    assert len(callbacks) == 1  # the re-embedding task, not yet run
    # Meanwhile the old model serves, and an edit is indexed for both models.
    assert serving_embedder(tenant=world_a.tenant).name == "hashing-384"
    assert chunk_search(tenant=world_a.tenant, query="negotiate probability", k=1)[0].document_id == a1.pk
    a1 = update_document(a1, body=BODY + "\n## Signature\n\n90%.\n")
    assert models_of(world_a.tenant) == {"hashing-384", "test-hash-64"}
    callbacks[0]()  # the task: kb_reembed
    config.refresh_from_db()
    assert (config.embedder, config.pending_embedder, config.reembed_status, config.reembed_done) == ("test64", "", "idle", 1)
    assert models_of(world_a.tenant) == {"test-hash-64"}  # old chunks dropped after the switch
    assert models_of(world_b.tenant) == {"hashing-384"}  # other tenants untouched
    hit = chunk_search(tenant=world_a.tenant, query="negotiate probability", k=1)[0]
    assert hit.document_id == a1.pk and hit.vector_score is not None
    assert chunk_search(tenant=world_b.tenant, query="negotiate probability", k=1)[0].vector_score is not None
    with connection.cursor() as cursor:  # the new model got its partial HNSW index
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [index_name("test-hash-64")])
        assert "vector(64)" in cursor.fetchone()[0]


def test_failed_reembedding_leaves_the_old_model_serving(world_a, second_model, monkeypatch):
    make_document(tenant=world_a.tenant, title="Stages", body=BODY)

    class Broken(Hashing64):
        def embed_documents(self, texts):
            raise RuntimeError("quota exceeded")

    monkeypatch.setitem(embedders._FACTORIES, "test64", Broken)
    with pytest.raises(RuntimeError), run_on_commit():
        kb_embedder_change(tenant=world_a.tenant, embedder="test64")
    config = KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant)
    assert (config.embedder, config.pending_embedder, config.reembed_status) == ("hashing", "test64", ReembedStatus.FAILED)
    assert "quota exceeded" in config.reembed_error
    assert chunk_search(tenant=world_a.tenant, query="negotiate", k=1)  # still served by hashing
    # Fixed, the same request resumes and completes.
    monkeypatch.setitem(embedders._FACTORIES, "test64", Hashing64)
    embedders._INSTANCES.clear()
    with run_on_commit():
        kb_embedder_change(tenant=world_a.tenant, embedder="test64")
    config.refresh_from_db()
    assert (config.embedder, config.reembed_status) == ("test64", ReembedStatus.IDLE)


def test_choosing_the_serving_model_again_cancels_a_pending_change(world_a, second_model):
    make_document(tenant=world_a.tenant, title="Stages", body=BODY)
    kb_embedder_change(tenant=world_a.tenant, embedder="test64")  # task not run (no commit)
    config = kb_embedder_change(tenant=world_a.tenant, embedder="hashing")
    assert (config.embedder, config.pending_embedder, config.reembed_status) == ("hashing", "", "idle")
    assert kb_reembed(tenant=world_a.tenant) == 0


def test_unknown_or_misconfigured_embedder_is_refused_before_any_write(world_a):
    with pytest.raises(ImproperlyConfigured, match="Unknown"):
        kb_embedder_change(tenant=world_a.tenant, embedder="word2vec")
    assert not KnowledgeBaseSettings.objects.unscoped().exists()


def test_first_indexing_pins_the_tenant_to_the_default_model(world_a, settings):
    make_document(tenant=world_a.tenant, title="Stages", body=BODY)
    assert KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant).embedder == "hashing"
    settings.KB_EMBEDDER = "bedrock-512"  # a later change of the default does not strand its chunks
    assert serving_embedder(tenant=world_a.tenant).name == "hashing-384"


def test_ensure_hnsw_index_is_idempotent(db):
    assert ensure_hnsw_index("test-ensure-32", 32) is True
    assert ensure_hnsw_index("test-ensure-32", 32) is False
    with pytest.raises(ValueError):
        ensure_hnsw_index("bad name'; drop table x; --", 32)


def test_crlf_bodies_from_browsers_are_stored_with_lf(world_a):
    document = make_document(tenant=world_a.tenant, title="Stages", body=BODY.replace("\n", "\r\n"))
    assert document.body == BODY
    assert update_document(document, body=BODY.replace("\n", "\r\n")).version == 1
