"""Malformed query parameters and URLs on the admin's extra pages give a page or a 404, never a 500."""

import pytest
from django.urls import reverse

from knowledge.tests.factories import make_document, update_document

RETRIEVAL = reverse("admin:knowledge_knowledgedocument_retrieval")


@pytest.fixture
def doc_a(world_a):
    document = make_document(tenant=world_a.tenant, title="Deal stages", body="# Stages\n\nProbability 75%.\n", user=world_a.editor)
    return update_document(document, body="# Stages\n\nProbability 70%.\n", user=world_a.owner)


def version_url(document, version):
    return reverse("admin:knowledge_knowledgedocument_version", args=[document.pk, version])


@pytest.mark.parametrize("against", ["²", "99999999999999999999999", "-1", "abc", "", "previous", "1"])
def test_version_page_tolerates_any_against_value(client, world_a, doc_a, against):
    client.force_login(world_a.editor)
    response = client.get(version_url(doc_a, 2), {"against": against})
    assert response.status_code == 200
    assert "Probability 70%." in response.content.decode()  # the version asked for is shown
    doc_a.refresh_from_db()
    assert doc_a.version == 2 and "70%" in doc_a.body  # a page view changes nothing


def test_unknown_or_huge_version_is_a_404(client, world_a, doc_a):
    client.force_login(world_a.editor)
    assert client.get(version_url(doc_a, 7)).status_code == 404
    assert client.get(version_url(doc_a, 99999999999999999999999)).status_code == 404
    restore = reverse("admin:knowledge_knowledgedocument_restore", args=[doc_a.pk, 99999999999999999999999])
    assert client.post(restore).status_code == 404


@pytest.mark.parametrize("k", ["abc", "0", "1000", "", "1e3"])
def test_retrieval_with_bad_k_is_a_form_error(client, world_a, doc_a, k):
    client.force_login(world_a.viewer)
    response = client.get(RETRIEVAL, {"tenant": world_a.tenant.pk, "query": "probability", "k": k, "mode": "hybrid"})
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["k"], response.context["form"].errors
    assert response.context["hits"] is None  # nothing searched


@pytest.mark.parametrize("params", [{"tenant": "abc"}, {"mode": "bogus"}, {"kinds": "nope"}, {"tags": "!!!"}])
def test_retrieval_with_bad_params_is_a_form_error(client, world_a, doc_a, params):
    client.force_login(world_a.viewer)
    data = {"tenant": world_a.tenant.pk, "query": "probability", "k": 5, "mode": "hybrid", **params}
    response = client.get(RETRIEVAL, data)
    assert response.status_code == 200
    assert list(response.context["form"].errors) == list(params), response.context["form"].errors
    assert response.context["hits"] is None  # nothing searched
