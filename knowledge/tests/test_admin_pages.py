"""The admin's extra pages: versions with diff and restore, test retrieval, import, export,
status actions, index status display, knowledge-base settings; tenant scoping of each."""

import io
import zipfile

import pytest
from django.urls import reverse

from knowledge.models import KnowledgeBaseSettings, KnowledgeDocument
from knowledge.tests.factories import make_document, update_document

CHANGELIST = reverse("admin:knowledge_knowledgedocument_changelist")
RETRIEVAL = reverse("admin:knowledge_knowledgedocument_retrieval")
IMPORT = reverse("admin:knowledge_knowledgedocument_import")


def versions_url(document):
    return reverse("admin:knowledge_knowledgedocument_versions", args=[document.pk])


def version_url(document, version):
    return reverse("admin:knowledge_knowledgedocument_version", args=[document.pk, version])


def restore_url(document, version):
    return reverse("admin:knowledge_knowledgedocument_restore", args=[document.pk, version])


@pytest.fixture
def doc_a(world_a):
    document = make_document(tenant=world_a.tenant, title="Deal stages", body="# Stages\n\n## Negotiate\n\nProbability 75%.\n", user=world_a.editor)
    return update_document(document, body="# Stages\n\n## Negotiate\n\nProbability 70%.\n", user=world_a.owner)


def test_change_page_shows_index_status_preview_and_versions_link(client, world_a, doc_a):
    client.force_login(world_a.editor)
    page = client.get(reverse("admin:knowledge_knowledgedocument_change", args=[doc_a.pk])).text
    assert 'data-status="indexed"' in page and "1 chunks (hashing-384)" in page
    assert "<h2>Negotiate</h2>" in page  # markdown preview
    assert versions_url(doc_a) in page and "2 version(s)" in page


def test_failed_indexing_is_shown_with_its_error(client, world_a, doc_a):
    KnowledgeDocument.objects.unscoped().filter(pk=doc_a.pk).update(index_status="failed", index_error="EmbeddingError: throttled")
    client.force_login(world_a.viewer)
    assert 'data-status="failed"' in client.get(CHANGELIST).text
    page = client.get(reverse("admin:knowledge_knowledgedocument_change", args=[doc_a.pk])).text
    assert "EmbeddingError: throttled" in page


def test_versions_diff_and_restore(client, world_a, doc_a, django_capture_on_commit_callbacks):
    client.force_login(world_a.editor)
    page = client.get(versions_url(doc_a)).text
    assert "v2 (current)" in page and f'action="{restore_url(doc_a, 1)}"' in page
    diff = client.get(version_url(doc_a, 1)).text  # v1 against the current v2
    assert 'class="diff"' in diff and 'class="diff_chg"' in diff and "Negotiate" in diff
    assert "The bodies are identical" in client.get(version_url(doc_a, 2) + "?against=current").text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(restore_url(doc_a, 1))
    assert response.status_code == 302
    doc_a.refresh_from_db()
    assert (doc_a.version, "75%" in doc_a.body, doc_a.updated_by, doc_a.index_status) == (3, True, world_a.editor, "indexed")
    assert "restored from v1" in client.get(versions_url(doc_a)).text


def test_viewer_sees_versions_but_cannot_restore(client, world_a, doc_a):
    client.force_login(world_a.viewer)
    page = client.get(versions_url(doc_a)).text
    assert "v2 (current)" in page and "Restore v1" not in page
    assert client.post(restore_url(doc_a, 1)).status_code == 403
    doc_a.refresh_from_db()
    assert doc_a.version == 2


def test_other_tenant_gets_404_on_every_document_page(client, world_b, doc_a):
    client.force_login(world_b.editor)
    assert client.get(versions_url(doc_a)).status_code == 404
    assert client.get(version_url(doc_a, 1)).status_code == 404
    assert client.post(restore_url(doc_a, 1)).status_code == 404
    doc_a.refresh_from_db()
    assert doc_a.version == 2


def test_test_retrieval_shows_top_chunks_with_scores_for_own_tenants_only(client, world_a, world_b, doc_a):
    make_document(tenant=world_b.tenant, title="Globex secret stages", body="# Stages\n\nNegotiate probability is secret.\n")
    client.force_login(world_a.viewer)
    page = client.get(RETRIEVAL).text
    assert f'value="{world_a.tenant.pk}"' in page and f'value="{world_b.tenant.pk}"' not in page
    page = client.get(RETRIEVAL, {"tenant": world_a.tenant.pk, "query": "negotiate probability", "k": 5, "mode": "hybrid"}).text
    assert "1 result" in page and "Deal stages" in page and "Stages &gt; Negotiate" in page
    assert 'class="kb-score">1.000<' in page  # first by both retrievers
    assert "Globex" not in page
    # Asking for another tenant's id is a form error, not a leak.
    page = client.get(RETRIEVAL, {"tenant": world_b.tenant.pk, "query": "negotiate", "k": 5, "mode": "hybrid"}).text
    assert "Select a valid choice" in page and "Globex" not in page


def test_test_retrieval_can_include_drafts_and_filter_tags(client, world_a, doc_a):
    from knowledge.services import document_save

    document_save(tenant=world_a.tenant, kind="business_logic", title=doc_a.title, body=doc_a.body, status="draft", tags=["deals"], document=doc_a)
    client.force_login(world_a.editor)
    params = {"tenant": world_a.tenant.pk, "query": "negotiate probability", "k": 5, "mode": "hybrid"}
    assert "No chunk matched" in client.get(RETRIEVAL, params).text
    page = client.get(RETRIEVAL, {**params, "include_drafts": "on", "tags": "deals"}).text
    assert "1 result" in page and "draft" in page
    assert "No chunk matched" in client.get(RETRIEVAL, {**params, "include_drafts": "on", "tags": "other"}).text


def test_import_page_uploads_markdown_files_and_zip(client, world_a, world_b, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world_a.editor)
    page = client.get(IMPORT).text
    assert f'value="{world_b.tenant.pk}"' not in page
    files = [
        SimpleUploadedFile("a.md", b"---\nkind: playbook\ntags: [x]\n---\n# Alpha\n\nalpha text\n"),
        SimpleUploadedFile("b.md", b"# Beta\n\nbeta text\n"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT, {"tenant": world_a.tenant.pk, "files": files, "default_status": "draft"})
    assert response.status_code == 200 and "2 created" in response.text
    docs = {d.title: d for d in KnowledgeDocument.objects.unscoped().filter(tenant=world_a.tenant)}
    assert (docs["Alpha"].kind, docs["Alpha"].status, docs["Alpha"].tags, docs["Beta"].status) == ("playbook", "draft", ["x"], "draft")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("kb/b.md", "# Beta\n\nbeta text, changed\n")
    response = client.post(IMPORT, {"tenant": world_a.tenant.pk, "files": SimpleUploadedFile("kb.zip", buffer.getvalue()), "default_status": "draft"})
    assert "1 updated" in response.text
    # Importing into a tenant where the user does not edit is refused by the form.
    response = client.post(IMPORT, {"tenant": world_b.tenant.pk, "files": SimpleUploadedFile("c.md", b"# C\n"), "default_status": "published"})
    assert "Select a valid choice" in response.text
    assert not KnowledgeDocument.objects.unscoped().filter(tenant=world_b.tenant).exists()
    client.force_login(world_a.viewer)
    assert client.get(IMPORT).status_code == 403


def test_export_action_downloads_a_zip_of_markdown(client, world_a, doc_a):
    client.force_login(world_a.viewer)  # viewers may export what they can read
    response = client.post(CHANGELIST, {"action": "export_selected", "_selected_action": [doc_a.pk]})
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["deal-stages.md"]
    assert "Probability 70%." in archive.read("deal-stages.md").decode()


def test_publish_and_unpublish_actions(client, world_a, doc_a):
    client.force_login(world_a.editor)
    client.post(CHANGELIST, {"action": "unpublish", "_selected_action": [doc_a.pk]})
    doc_a.refresh_from_db()
    assert (doc_a.status, doc_a.version) == ("draft", 3)
    client.post(CHANGELIST, {"action": "publish", "_selected_action": [doc_a.pk]})
    doc_a.refresh_from_db()
    assert doc_a.status == "published"
    client.force_login(world_a.viewer)
    response = client.post(CHANGELIST, {"action": "unpublish", "_selected_action": [doc_a.pk]})
    doc_a.refresh_from_db()
    assert doc_a.status == "published"  # the action is not offered to viewers


def test_settings_admin_changes_the_embedder_for_owners_only(client, world_a, world_b, doc_a, monkeypatch, django_capture_on_commit_callbacks):
    from knowledge import embedders
    from knowledge.tests.test_versions_and_models import Hashing64

    config = KnowledgeBaseSettings.objects.unscoped().get(tenant=world_a.tenant)
    url = reverse("admin:knowledge_knowledgebasesettings_change", args=[config.pk])
    client.force_login(world_a.editor)
    assert client.get(url).status_code == 200  # read-only for editors
    assert client.post(url, {"embedder": "bedrock-512"}).status_code == 403
    client.force_login(world_b.owner)
    assert client.get(url).status_code == 404
    client.force_login(world_a.owner)
    before = KnowledgeBaseSettings.objects.unscoped().values().get(pk=config.pk)
    response = client.post(url, {"embedder": "nope"})
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert list(response.context["adminform"].form.errors) == ["embedder"]
    assert KnowledgeBaseSettings.objects.unscoped().values().get(pk=config.pk) == before  # nothing saved
    monkeypatch.setattr(embedders, "EMBEDDER_SPECS", (*embedders.EMBEDDER_SPECS, "test64"))
    monkeypatch.setitem(embedders._FACTORIES, "test64", Hashing64)
    from knowledge import admin as kb_admin

    monkeypatch.setattr(kb_admin.KnowledgeBaseSettingsForm.base_fields["embedder"], "choices", [(s, s) for s in (*embedders.EMBEDDER_SPECS,)])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"embedder": "test64"})
    assert response.status_code == 302, response.text
    config.refresh_from_db()
    assert (config.embedder, config.pending_embedder, config.reembed_status) == ("test64", "", "idle")
