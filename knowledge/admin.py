"""Admin for the knowledge base, for RevOps editors (staff users) without Django model permissions.

Access comes from tenant memberships, not ``auth`` permissions: superusers see every tenant;
other staff users see the documents of tenants they belong to, and may add, change and delete
them where their role edits (owner/admin/editor); viewers get a read-only admin. Saves go through
:func:`knowledge.services.document_save` (version bump, re-indexing).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.http import Http404, HttpRequest

from knowledge.models import KnowledgeDocument
from knowledge.services import document_save
from tenants.models import ROLES_THAT_EDIT, Membership, Tenant

_CACHE_ATTR = "_knowledge_admin_tenant_ids"


def _tenant_ids(request: HttpRequest, *, editing: bool) -> set[int]:
    """Ids of the tenants where the user is a member (``editing``: with an editing role)."""
    cache = getattr(request, _CACHE_ATTR, None)
    if cache is None:
        cache = {"all": set(), "edit": set()}
        if request.user.is_authenticated and request.user.is_active and request.user.is_staff:
            for tenant_id, role in Membership.objects.filter(user=request.user).values_list("tenant_id", "role"):
                cache["all"].add(tenant_id)
                if role in ROLES_THAT_EDIT:
                    cache["edit"].add(tenant_id)
        setattr(request, _CACHE_ATTR, cache)
    return cache["edit" if editing else "all"]


class KnowledgeDocumentForm(forms.ModelForm):
    class Meta:
        model = KnowledgeDocument
        fields = ["tenant", "kind", "title", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"})}

    def clean(self):
        cleaned = super().clean()
        # On change the tenant is read-only, so it is not a form field and Django skips the
        # (tenant, title) constraint; check it here so the editor gets a form error, not a 500.
        if "tenant" not in self.fields and self.instance.pk and cleaned.get("title"):
            clash = (
                KnowledgeDocument.objects.unscoped()  # same tenant as the instance, checked explicitly
                .filter(tenant_id=self.instance.tenant_id, title=cleaned["title"].strip())
                .exclude(pk=self.instance.pk)
                .exists()
            )
            if clash:
                self.add_error("title", "A document with this title already exists in this tenant.")
        return cleaned


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(admin.ModelAdmin):
    form = KnowledgeDocumentForm
    list_display = ["title", "kind", "tenant", "version", "index_status", "chunk_count", "updated_at"]
    list_filter = ["kind", "index_status"]
    search_fields = ["title", "body"]
    readonly_fields = ["version", "index_status", "index_error", "indexed_at", "updated_by", "created_at", "updated_at"]
    fields = ["tenant", "kind", "title", "body", *readonly_fields]
    list_select_related = ["tenant"]
    ordering = ["tenant__slug", "title"]

    # --- who sees what ------------------------------------------------------------------------

    def get_queryset(self, request):
        if request.user.is_superuser:
            queryset = KnowledgeDocument.objects.unscoped()  # superusers administer every tenant
        else:
            # Explicit opt-out of the context-scoped manager: the admin has no tenant in
            # context; the user's memberships are the scope.
            queryset = KnowledgeDocument.objects.unscoped().filter(tenant__in=_tenant_ids(request, editing=False))
        return queryset.select_related("tenant", "updated_by").annotate(_chunk_count=Count("chunks"))

    def get_object(self, request, object_id, from_field=None):
        # Another tenant's document is indistinguishable from a missing one: 404, not the
        # admin's "does not exist, perhaps deleted" redirect.
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("No such document.")
        return obj

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser or bool(_tenant_ids(request, editing=False))

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        tenant_ids = _tenant_ids(request, editing=False)
        return obj.tenant_id in tenant_ids if obj is not None else bool(tenant_ids)

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser or bool(_tenant_ids(request, editing=True))

    def has_change_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return True
        tenant_ids = _tenant_ids(request, editing=True)
        return obj.tenant_id in tenant_ids if obj is not None else bool(tenant_ids)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    # --- form -------------------------------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["tenant", *self.readonly_fields]  # documents never move between tenants
        return self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            tenants = Tenant.objects.order_by("slug")
            if not request.user.is_superuser:
                tenants = tenants.filter(pk__in=_tenant_ids(request, editing=True))
            kwargs["queryset"] = tenants
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        editable = _tenant_ids(request, editing=True)
        if "tenant" not in initial and len(editable) == 1 and not request.user.is_superuser:
            initial["tenant"] = next(iter(editable))
        return initial

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = document_save(
            tenant=data["tenant"] if not change else obj.tenant,
            kind=data["kind"],
            title=data["title"],
            body=data["body"],
            user=request.user,
            document=obj if change else None,
        )
        # The admin's messages, log entry and redirect use ``obj``: make it the saved row.
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    @admin.display(description="Chunks", ordering="_chunk_count")
    def chunk_count(self, obj) -> int:
        return obj._chunk_count
