"""The connector list links to the warehouse upload page (``integrations.admin_import``) of each
tenant the user may configure: owners see their tenant's, editors none, another tenant's never."""

from __future__ import annotations

import pytest
from django.urls import reverse

CHANGELIST = reverse("admin:integrations_connectorcredential_changelist")

pytestmark = pytest.mark.django_db


def test_owners_see_their_tenants_upload_link_and_it_opens(client, world_a, world_b):
    own = reverse("admin:integrations_warehouse_import", args=[world_a.tenant.slug])
    other = reverse("admin:integrations_warehouse_import", args=[world_b.tenant.slug])
    client.force_login(world_a.owner)
    page = client.get(CHANGELIST).content.decode()
    assert f'href="{own}"' in page and f"Import CSV/Parquet into {world_a.tenant.name}" in page
    assert other not in page
    assert client.get(own).status_code == 200
    assert client.get(other).status_code == 404


def test_editors_see_no_upload_link(client, world_a):
    client.force_login(world_a.editor)
    page = client.get(CHANGELIST).content.decode()
    assert "warehouse-import" not in page


def test_a_superuser_sees_every_tenants_link(client, world_a, world_b, django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="pw-for-tests-only")
    client.force_login(admin)
    page = client.get(CHANGELIST).content.decode()
    for world in (world_a, world_b):
        assert reverse("admin:integrations_warehouse_import", args=[world.tenant.slug]) in page
