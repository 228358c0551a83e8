"""The one tenant-scoped admin base and the scoped manager's for_tenant / for_tenants."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory

from actions.models import ActionEvent, WebhookEndpoint
from actions.signing import webhook_endpoint_create
from tenants.admin_base import TenantScopedAdmin, TenantScopedInline, member_tenant_ids
from tenants.context import TenantNotSet, current_tenant_or_none
from tenants.models import ApiKey, Membership, Role, TenantOwnedModel


def test_every_admin_of_a_tenant_owned_model_uses_the_one_base():
    owned = {model: model_admin for model, model_admin in admin.site._registry.items() if issubclass(model, TenantOwnedModel)}
    assert len(owned) >= 6  # documents, KB settings, connectors, actions, endpoints, runs, API keys
    assert [type(a).__name__ for a in owned.values() if not isinstance(a, TenantScopedAdmin)] == []
    for model_admin in owned.values():
        for inline in model_admin.inlines:
            if issubclass(inline.model, TenantOwnedModel):
                assert issubclass(inline, TenantScopedInline), inline


@pytest.mark.django_db
def test_for_tenant_reads_one_tenants_rows_without_a_context(world_a, world_b):
    assert current_tenant_or_none() is None
    with pytest.raises(TenantNotSet):
        list(ApiKey.objects.all())  # the scoped manager still fails closed
    mine = set(ApiKey.objects.for_tenant(world_a.tenant).values_list("tenant_id", flat=True))
    assert mine == {world_a.tenant.pk}
    assert ApiKey.objects.for_tenant(world_a.tenant.pk).count() == ApiKey.objects.for_tenant(world_a.tenant).count() == 2
    both = set(ApiKey.objects.for_tenants([world_a.tenant.pk, world_b.tenant.pk]).values_list("tenant_id", flat=True))
    assert both == {world_a.tenant.pk, world_b.tenant.pk}


@pytest.mark.parametrize("bad", [None, "1", True, 1.0])
def test_for_tenant_refuses_anything_but_a_saved_tenant_or_its_id(bad):
    with pytest.raises(ValueError, match="for_tenant"):
        ApiKey.objects.for_tenant(bad)


@pytest.mark.django_db
def test_member_tenant_ids_by_role_and_only_for_active_staff(world_a, world_b):
    Membership.objects.create(user=world_a.editor, tenant=world_b.tenant, role=Role.VIEWER)
    request = RequestFactory().get("/admin/")
    request.user = world_a.editor
    assert member_tenant_ids(request) == {world_a.tenant.pk, world_b.tenant.pk}
    assert member_tenant_ids(request, {Role.OWNER, Role.ADMIN, Role.EDITOR}) == {world_a.tenant.pk}
    assert member_tenant_ids(request, set()) == set()
    world_a.viewer.is_staff = False
    request = RequestFactory().get("/admin/")
    request.user = world_a.viewer
    assert member_tenant_ids(request) == set()  # not staff: no admin access at all


@pytest.mark.django_db
def test_an_endpoint_page_runs_in_its_tenant_and_shows_its_secrets_through_the_scoped_manager(client, world_a, world_b):
    endpoint, _ = webhook_endpoint_create(tenant=world_a.tenant, url="https://hooks.example.com/in")
    client.force_login(world_a.editor)
    page = client.get(f"/admin/actions/webhookendpoint/{endpoint.pk}/change/")
    assert page.status_code == 200
    # The inline of secrets read through SigningSecret.objects under the page's tenant context.
    assert page.context["inline_admin_formsets"][0].formset.queryset.count() == 1
    client.force_login(world_b.editor)
    assert client.get(f"/admin/actions/webhookendpoint/{endpoint.pk}/change/").status_code == 404
    assert client.get(f"/admin/actions/webhookendpoint/{endpoint.pk}/delete/").status_code == 404
    assert client.get(f"/admin/actions/webhookendpoint/{endpoint.pk}/history/").status_code == 404
    assert WebhookEndpoint.objects.for_tenant(world_a.tenant).count() == 1
    assert not ActionEvent.objects.for_tenant(world_b.tenant).exists()
