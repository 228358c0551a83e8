"""Admin page: upload CSV / Parquet files into a tenant's warehouse (issue 12, part 4).

``/admin/integrations/connectorcredential/warehouse-import/<tenant slug>/``: a form with the
files, the engine for a tenant without a warehouse, and two buttons: "Preview" (types and first
rows, nothing written) and "Import". Both call the same service as ``manage.py warehouse_import``
(:func:`integrations.warehouse.importer.warehouse_import`). Access: superusers, and the tenant's
owners and admins (:data:`tenants.admin_base.ROLES_THAT_CONFIGURE`); a member with another role
gets 403; anybody else, and an unknown tenant, 404 (another tenant's page cannot be told from a
missing one).

Installed by one import at the end of :mod:`integrations.admin`, which adds the URL to the
registered connector admin's own URLs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse

from integrations.models import ConnectorCredential
from integrations.warehouse.importer import (
    ENGINES,
    FILE_SUFFIXES,
    PREVIEW_ROWS,
    WarehouseImportError,
    identifier_from,
    preview_cell,
    warehouse_import,
)
from tenants.admin_base import ROLES_THAT_CONFIGURE, member_roles
from tenants.models import Tenant

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # per request, all files together
MAX_FILES = 20


class WarehouseImportForm(forms.Form):
    """The engine used when the tenant has no warehouse yet (the files come from the page's
    ``<input type="file" name="files" multiple>``, read with ``request.FILES.getlist``)."""

    engine = forms.ChoiceField(
        choices=[("", "the tenant's warehouse (DuckDB when it has none)"), *[(e, e) for e in ENGINES]], required=False
    )


def _tenant_for(request: HttpRequest, tenant_slug: str) -> Tenant:
    """The tenant when the user may import into it; Http404 / PermissionDenied otherwise."""
    tenant = Tenant.objects.filter(slug=tenant_slug).first()
    if tenant is None:
        raise Http404("no such tenant")
    if request.user.is_superuser:
        return tenant
    role = member_roles(request).get(tenant.pk)
    if role is None:
        raise Http404("no such tenant")
    if role not in ROLES_THAT_CONFIGURE:
        raise PermissionDenied
    return tenant


def warehouse_import_view(request: HttpRequest, tenant_slug: str) -> HttpResponse:
    """GET: the upload form. POST with ``preview`` or ``import``: read (and load) the files and
    show the inferred types, first rows, errors (file, row, value) or the result."""
    tenant = _tenant_for(request, tenant_slug)
    form = WarehouseImportForm(request.POST or None)
    report = None
    errors: list[str] = []
    if request.method == "POST" and form.is_valid():
        uploads = request.FILES.getlist("files")
        dry_run = "import" not in request.POST
        if not uploads:
            errors = ["choose at least one .csv or .parquet file"]
        elif len(uploads) > MAX_FILES:
            errors = [f"at most {MAX_FILES} files at a time"]
        elif sum(u.size for u in uploads) > MAX_UPLOAD_BYTES:
            errors = [f"the files add up to more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; use manage.py warehouse_import"]
        else:
            with tempfile.TemporaryDirectory(prefix="revops-import-") as tmp:
                paths, names = [], {}
                for i, upload in enumerate(uploads):
                    original = Path(upload.name or "").name  # never a client-chosen directory
                    suffix = Path(original).suffix.lower()
                    if suffix not in FILE_SUFFIXES:
                        errors.append(f"{original or 'a file'}: only .csv and .parquet files can be imported")
                        continue
                    stored = Path(tmp) / f"upload_{i}{suffix}"
                    with stored.open("wb") as fh:
                        for chunk in upload.chunks():
                            fh.write(chunk)
                    names[stored.name] = identifier_from(Path(original).stem, fallback=f"table_{i + 1}")
                    paths.append(stored)
                if not errors:
                    try:
                        report = warehouse_import(
                            tenant=tenant, paths=paths, engine=form.cleaned_data["engine"] or None, dry_run=dry_run, table_names=names
                        )
                    except WarehouseImportError as exc:
                        errors = exc.errors
    tables = []
    if report is not None:
        for t in report.tables:
            tables.append(
                {
                    "name": t.name,
                    "rows": t.row_count,
                    "columns": [(c.name, c.type) for c in t.columns],
                    "preview": [[preview_cell(v) for v in row] for row in t.preview(PREVIEW_ROWS)],
                }
            )
    context = {
        **admin.site.each_context(request),
        "opts": ConnectorCredential._meta,
        "title": f"Import CSV or Parquet files into {tenant.name}'s warehouse",
        "tenant": tenant,
        "form": form,
        "errors": errors,
        "report": report,
        "tables": tables,
        "next_step": report.next_step(tenant.slug) if report is not None else "",
        "accept": ",".join(FILE_SUFFIXES),
        "action_url": reverse("admin:integrations_warehouse_import", args=[tenant.slug]),
    }
    return TemplateResponse(request, "admin/integrations/warehouse_import.html", context)


def _install() -> None:
    """Prepend the page's URL to the registered connector admin's URLs."""
    model_admin = admin.site.get_model_admin(ConnectorCredential)
    original = model_admin.get_urls

    def get_urls():
        return [
            path(
                "warehouse-import/<slug:tenant_slug>/",
                model_admin.admin_site.admin_view(warehouse_import_view),
                name="integrations_warehouse_import",
            ),
            *original(),
        ]

    model_admin.get_urls = get_urls


_install()
