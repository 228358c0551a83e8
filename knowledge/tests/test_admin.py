import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from knowledge.models import IndexStatus, KnowledgeChunk, KnowledgeDocument
from knowledge.tests.factories import make_document
from tenants.models import Membership, Role

CHANGELIST = reverse("admin:knowledge_knowledgedocument_changelist")
ADD = reverse("admin:knowledge_knowledgedocument_add")


def change_url(document) -> str:
    return reverse("admin:knowledge_knowledgedocument_change", args=[document.pk])


@pytest.fixture
def docs(world_a, world_b):
    return (
        make_document(tenant=world_a.tenant, title="Acme deal stages", body="# Stages\n\nAcme has five stages."),
        make_document(tenant=world_b.tenant, title="Globex deal stages", body="# Stages\n\nGlobex has three stages."),
    )


def form_data(document=None, **overrides) -> dict:
    data = {"kind": "business_logic", "status": "published", "tags": "", "title": "", "body": "", "_save": "Save"}
    if document is not None:
        data.update(kind=document.kind, status=document.status, tags=", ".join(document.tags), title=document.title, body=document.body)
    data.update(overrides)
    return data


def test_editor_sees_own_tenant_documents_only(client, world_a, docs):
    client.force_login(world_a.editor)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert "Acme deal stages" in response.text
    assert "Globex deal stages" not in response.text
    # Search over the body stays inside the user's tenants too.
    response = client.get(CHANGELIST, {"q": "stages"})
    assert "Acme deal stages" in response.text and "Globex deal stages" not in response.text


def test_admin_index_lists_the_app_for_members_without_model_permissions(client, world_a):
    assert not world_a.viewer.user_permissions.exists() and not world_a.viewer.is_superuser
    client.force_login(world_a.viewer)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert CHANGELIST in response.text


def test_staff_user_without_membership_sees_nothing(client, db, docs):
    outsider = get_user_model().objects.create_user(username="outsider", password="x", is_staff=True)
    client.force_login(outsider)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(docs[0])).status_code == 404


def test_other_tenant_editor_gets_404_on_change_history_and_delete(client, world_b, docs):
    acme_doc = docs[0]
    client.force_login(world_b.editor)
    assert client.get(change_url(acme_doc)).status_code == 404
    assert client.post(change_url(acme_doc), form_data(acme_doc, body="pwned")).status_code == 404
    assert client.get(reverse("admin:knowledge_knowledgedocument_history", args=[acme_doc.pk])).status_code == 404
    assert client.post(reverse("admin:knowledge_knowledgedocument_delete", args=[acme_doc.pk]), {"post": "yes"}).status_code == 404
    acme_doc.refresh_from_db()
    assert acme_doc.body == "# Stages\n\nAcme has five stages."


def test_viewer_can_view_but_not_change_add_or_delete(client, world_a, docs):
    acme_doc = docs[0]
    client.force_login(world_a.viewer)
    response = client.get(change_url(acme_doc))
    assert response.status_code == 200
    assert "Acme has five stages." in response.text
    assert 'name="_save"' not in response.text  # read-only page
    assert client.post(change_url(acme_doc), form_data(acme_doc, body="changed")).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.post(reverse("admin:knowledge_knowledgedocument_delete", args=[acme_doc.pk]), {"post": "yes"}).status_code == 403
    acme_doc.refresh_from_db()
    assert (acme_doc.body, acme_doc.version) == ("# Stages\n\nAcme has five stages.", 1)


def test_editor_adds_document_through_the_form_and_it_gets_indexed(
    client, world_a, django_capture_on_commit_callbacks
):
    client.force_login(world_a.editor)
    response = client.get(ADD)
    assert response.status_code == 200
    body = "---\nstalled_in_stage_days: 21\n---\n# Risk warnings\n\n## Stalled\n\nNo stage change for 21 days."
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(ADD, form_data(tenant=world_a.tenant.pk, title="Risk warnings", body=body))
    assert response.status_code == 302, response.text
    document = KnowledgeDocument.objects.unscoped().get(title="Risk warnings")
    assert document.tenant == world_a.tenant
    assert (document.version, document.updated_by, document.index_status) == (1, world_a.editor, IndexStatus.INDEXED)
    chunk = KnowledgeChunk.objects.unscoped().get(document=document)
    assert chunk.heading_path == "Risk warnings > Stalled"


def test_editor_change_bumps_version_and_reindexes(client, world_a, docs, django_capture_on_commit_callbacks):
    acme_doc = docs[0]
    client.force_login(world_a.editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(change_url(acme_doc), form_data(acme_doc, body="# Stages\n\nAcme now has six stages."))
    assert response.status_code == 302, response.text
    acme_doc.refresh_from_db()
    assert (acme_doc.version, acme_doc.updated_by, acme_doc.index_status) == (2, world_a.editor, IndexStatus.INDEXED)
    assert "six stages" in KnowledgeChunk.objects.unscoped().get(document=acme_doc).text


def test_form_errors_are_shown_not_raised(client, world_a, docs):
    acme_doc = docs[0]
    client.force_login(world_a.editor)
    response = client.post(ADD, form_data(tenant=world_a.tenant.pk, title="Bad", body="---\na: [1\n---\n"))
    assert response.status_code == 200 and "Invalid YAML in front matter" in response.text
    other = make_document(tenant=world_a.tenant, title="Other", body="x")
    response = client.post(change_url(other), form_data(other, title="Acme deal stages"))
    assert response.status_code == 200 and "already exists in this tenant" in response.text
    other.refresh_from_db()
    assert (other.title, other.version) == ("Other", 1)  # the refused change was not saved
    response = client.post(ADD, form_data(tenant=world_a.tenant.pk, title="Acme deal stages", body="x"))
    assert response.status_code == 200 and "already exists in this tenant" in response.text
    assert not KnowledgeDocument.objects.unscoped().filter(title="Bad").exists()


def test_editor_cannot_add_to_a_tenant_where_they_are_not_an_editor(client, world_a, world_b):
    Membership.objects.create(user=world_a.editor, tenant=world_b.tenant, role=Role.VIEWER)
    client.force_login(world_a.editor)
    response = client.get(ADD)
    assert f'value="{world_a.tenant.pk}"' in response.text
    assert f'value="{world_b.tenant.pk}"' not in response.text
    response = client.post(ADD, form_data(tenant=world_b.tenant.pk, title="Sneaky", body="x"))
    assert response.status_code == 200 and "Select a valid choice" in response.text
    assert not KnowledgeDocument.objects.unscoped().filter(title="Sneaky").exists()


def test_bulk_delete_refuses_documents_of_tenants_where_user_only_views(client, world_a, world_b, docs):
    Membership.objects.create(user=world_a.editor, tenant=world_b.tenant, role=Role.VIEWER)
    client.force_login(world_a.editor)
    response = client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [d.pk for d in docs], "post": "yes"},
    )
    assert response.status_code == 403
    assert KnowledgeDocument.objects.unscoped().count() == 2


def test_superuser_sees_all_tenants(client, docs):
    admin_user = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client.force_login(admin_user)
    response = client.get(CHANGELIST)
    assert "Acme deal stages" in response.text and "Globex deal stages" in response.text
    assert client.get(change_url(docs[1])).status_code == 200
