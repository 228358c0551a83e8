"""Admin for the knowledge base, for RevOps editors (staff users) without Django model permissions.

Access comes from tenant memberships, not ``auth`` permissions
(:class:`tenants.admin_base.TenantScopedAdmin`): superusers see every tenant;
other staff users see the documents of tenants they belong to, and may add, change, delete,
import and restore them where their role edits (owner/admin/editor); viewers get a read-only
admin (they may still use the test-retrieval box). Another tenant's document is a 404.
Knowledge-base settings (the embedder) are changed by owners and admins.

Saves go through :mod:`knowledge.services` (validation, version history, re-indexing); the
extra pages (import, test retrieval, versions with diff and restore) are views on this admin.
"""

from __future__ import annotations

import difflib
from html import escape

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_q.tasks import async_task

from knowledge.embedders import EMBEDDER_SPECS, EmbeddingError, get_embedder, redact_secrets
from knowledge.markdown import render_markdown
from knowledge.models import (
    DocumentKind,
    DocumentStatus,
    IndexStatus,
    KnowledgeBaseSettings,
    KnowledgeDocument,
    KnowledgeDocumentVersion,
)
from knowledge.selectors import MAX_K, chunk_search, serving_embedder
from knowledge.services import document_restore, document_save, kb_embedder_change, normalise_tags
from knowledge.transfer import ImportSourceError, documents_import, export_zip, read_zip, decode_files
from tenants.admin_base import ROLES_THAT_CONFIGURE, TenantScopedAdmin, tenant_choices
from tenants.models import ROLES_THAT_EDIT, Tenant

class TagsField(forms.CharField):
    """Comma-separated tags <-> a normalised list."""

    def prepare_value(self, value):
        if isinstance(value, (list, tuple)):
            return ", ".join(value)
        return value

    def to_python(self, value):
        try:
            return normalise_tags(super().to_python(value) or "")
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["tags"]) from exc


class KnowledgeDocumentForm(forms.ModelForm):
    tags = TagsField(required=False, help_text="Comma-separated, e.g. deals, meddpicc. Retrieval can filter on them.")

    class Meta:
        model = KnowledgeDocument
        fields = ["tenant", "kind", "status", "title", "tags", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"})}

    def clean(self):
        cleaned = super().clean()
        # On change the tenant is read-only, so it is not a form field and Django skips the
        # (tenant, title) constraint; check it here so the editor gets a form error, not a 500.
        if "tenant" not in self.fields and self.instance.pk and cleaned.get("title"):
            clash = (
                KnowledgeDocument.objects.for_tenant(self.instance.tenant_id)
                .filter(title=cleaned["title"].strip())
                .exclude(pk=self.instance.pk)
                .exists()
            )
            if clash:
                self.add_error("title", "A document with this title already exists in this tenant.")
        return cleaned


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several uploaded files (the Django documentation's recipe)."""

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    files = MultipleFileField(
        widget=MultipleFileInput(attrs={"accept": ".md,.markdown,.zip"}),
        help_text="Markdown files (select several, or a whole folder's files) or one .zip of a folder.",
    )
    default_status = forms.ChoiceField(
        choices=DocumentStatus.choices, initial=DocumentStatus.PUBLISHED, help_text="For files whose front matter has no status."
    )
    dry_run = forms.BooleanField(required=False, help_text="Validate and report only.")


class RetrievalForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=Tenant.objects.none())
    query = forms.CharField(max_length=500, widget=forms.TextInput(attrs={"size": 80, "autofocus": True}))
    k = forms.IntegerField(min_value=1, max_value=MAX_K, initial=5, label="Top k")
    mode = forms.ChoiceField(choices=[("hybrid", "Hybrid (vector + full text, RRF)"), ("vector", "Vector only"), ("text", "Full text only")], initial="hybrid")
    kinds = forms.MultipleChoiceField(choices=DocumentKind.choices, required=False, widget=forms.CheckboxSelectMultiple)
    tags = TagsField(required=False, help_text="Any of these tags.")
    include_drafts = forms.BooleanField(required=False, help_text="Agents never see drafts; tick to try yours.")


@admin.register(KnowledgeDocument)
class KnowledgeDocumentAdmin(TenantScopedAdmin):
    """Documents of the user's tenants; editing roles add, change, delete, import and restore."""

    delete_roles = ROLES_THAT_EDIT
    form = KnowledgeDocumentForm
    list_display = ["title", "kind", "status", "tag_list", "tenant", "version", "index_state", "chunk_count", "updated_at", "updated_by"]
    list_filter = ["kind", "status", "index_status", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "body"]
    readonly_fields = [
        "version",
        "index_state_detail",
        "indexed_at",
        "updated_by",
        "created_at",
        "updated_at",
        "version_history",
        "preview",
    ]
    list_select_related = ["tenant", "updated_by"]
    ordering = ["tenant__slug", "title"]
    actions = ["publish", "unpublish", "export_selected", "reindex"]
    change_list_template = "admin/knowledge/knowledgedocument/change_list.html"
    change_form_template = "admin/knowledge/knowledgedocument/change_form.html"

    def get_fieldsets(self, request, obj=None):
        main = ["tenant", "kind", "status", "title", "tags", "body"]
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": main}),
            ("Indexing and history", {"fields": ["index_state_detail", "version", "version_history", "updated_by", "updated_at", "created_at"]}),
            ("Preview (saved version)", {"fields": ["preview"]}),
        ]

    # --- who sees what ------------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("updated_by").annotate(_chunk_count=Count("chunks"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in ("publish", "unpublish", "reindex"):
                actions.pop(name, None)
        return actions

    # --- form -------------------------------------------------------------------------------

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ["tenant", *self.readonly_fields]  # documents never move between tenants
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and "status" in form.base_fields:
            form.base_fields["status"].initial = DocumentStatus.PUBLISHED
        return form

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = document_save(
            tenant=data["tenant"] if not change else obj.tenant,
            kind=data["kind"],
            title=data["title"],
            body=data["body"],
            status=data["status"],
            tags=data["tags"],
            user=request.user,
            document=obj if change else None,
        )
        # The admin's messages, log entry and redirect use ``obj``: make it the saved row.
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    # --- columns and read-only fields ---------------------------------------------------------

    @admin.display(description="Chunks", ordering="_chunk_count")
    def chunk_count(self, obj) -> int:
        return obj._chunk_count

    @admin.display(description="Tags")
    def tag_list(self, obj) -> str:
        return ", ".join(obj.tags)

    @admin.display(description="Index", ordering="index_status")
    def index_state(self, obj) -> str:
        colour = {IndexStatus.INDEXED: "#2e7d32", IndexStatus.PENDING: "#a66f00", IndexStatus.FAILED: "#c62828"}[obj.index_status]
        title = obj.index_error or (f"indexed {obj.indexed_at:%Y-%m-%d %H:%M}" if obj.indexed_at else "")
        return format_html(
            '<span class="kb-index-status" data-status="{}" style="color:{};font-weight:bold" title="{}">{}</span>',
            obj.index_status,
            colour,
            title,
            obj.get_index_status_display(),
        )

    @admin.display(description="Indexing")
    def index_state_detail(self, obj) -> str:
        if obj.index_status == IndexStatus.FAILED:
            return format_html(
                '{}<pre class="kb-index-error" style="white-space:pre-wrap;color:#c62828">{}</pre>'
                "Saving the document again retries.",
                self.index_state(obj),
                obj.index_error,
            )
        models = list(obj.chunks.values_list("embedding_model").annotate(n=Count("id")).order_by("embedding_model"))
        detail = ", ".join(f"{n} chunks ({model})" for model, n in models) or "no chunks"
        when = f" at {timezone.localtime(obj.indexed_at):%Y-%m-%d %H:%M:%S}" if obj.indexed_at and obj.index_status == IndexStatus.INDEXED else ""
        return format_html("{}{} · {}", self.index_state(obj), when, detail)

    @admin.display(description="Versions")
    def version_history(self, obj) -> str:
        url = reverse("admin:knowledge_knowledgedocument_versions", args=[obj.pk])
        count = obj.versions.count()
        return format_html('<a href="{}" class="kb-versions-link">{} version(s): history, diff, restore</a>', url, count)

    @admin.display(description="Preview")
    def preview(self, obj) -> str:
        return format_html('<div class="kb-preview" style="max-width:60em">{}</div>', render_markdown(obj.body))

    # --- actions ------------------------------------------------------------------------------

    def _each_editable(self, request, queryset):
        for document in queryset.select_related("tenant"):
            if not self.has_change_permission(request, document):
                raise PermissionDenied
            yield document

    def _set_status(self, request, queryset, status: str) -> None:
        changed = 0
        for document in list(self._each_editable(request, queryset)):
            if document.status != status:
                document_save(
                    tenant=document.tenant, kind=document.kind, title=document.title, body=document.body,
                    status=status, user=request.user, document=document,
                )
                changed += 1
        self.message_user(request, f"{changed} document(s) set to {status}.", messages.SUCCESS)

    @admin.action(description="Publish selected documents")
    def publish(self, request, queryset):
        self._set_status(request, queryset, DocumentStatus.PUBLISHED)

    @admin.action(description="Set selected documents to draft (hidden from the agents)")
    def unpublish(self, request, queryset):
        self._set_status(request, queryset, DocumentStatus.DRAFT)

    @admin.action(description="Re-index selected documents")
    def reindex(self, request, queryset):
        by_tenant: dict[int, list[int]] = {}
        for document in self._each_editable(request, queryset):
            by_tenant.setdefault(document.tenant_id, []).append(document.pk)
        ids = [pk for pks in by_tenant.values() for pk in pks]
        for tenant_id, pks in by_tenant.items():
            KnowledgeDocument.objects.for_tenant(tenant_id).filter(pk__in=pks).update(index_status=IndexStatus.PENDING, index_error="")
        for document_id in ids:
            transaction.on_commit(lambda document_id=document_id: async_task("knowledge.tasks.index_document", document_id))
        self.message_user(request, f"{len(ids)} document(s) queued for indexing.", messages.SUCCESS)

    @admin.action(description="Export selected documents (.zip of markdown)")
    def export_selected(self, request, queryset):
        documents = [d for d in queryset.order_by("tenant__slug", "title") if self.has_view_permission(request, d)]
        response = HttpResponse(export_zip(documents), content_type="application/zip")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="knowledge-{stamp}.zip"'
        return response

    # --- extra pages --------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        info = "knowledge_knowledgedocument"
        return [
            path("import/", view(self.import_view), name=f"{info}_import"),
            path("test-retrieval/", view(self.retrieval_view), name=f"{info}_retrieval"),
            path("<path:object_id>/versions/", view(self.versions_view), name=f"{info}_versions"),
            path("<path:object_id>/versions/<int:version>/", view(self.version_view), name=f"{info}_version"),
            path(
                "<path:object_id>/versions/<int:version>/restore/",
                view(self.restore_view),
                name=f"{info}_restore",
            ),
            *super().get_urls(),
        ]

    def _context(self, request, title: str, **extra) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "has_view_permission": self.has_view_permission(request),
            **extra,
        }

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        form.fields["tenant"].queryset = self.tenant_choices(request)
        if len(form.fields["tenant"].queryset) == 1:
            form.fields["tenant"].initial = form.fields["tenant"].queryset[0].pk
        report = None
        if request.method == "POST" and form.is_valid():
            tenant = form.cleaned_data["tenant"]
            uploads = form.cleaned_data["files"]
            try:
                if len(uploads) == 1 and uploads[0].name.lower().endswith(".zip"):
                    files = read_zip(uploads[0].read())
                else:
                    files = decode_files(
                        (u.name, u.read()) for u in uploads if u.name.lower().endswith((".md", ".markdown"))
                    )
                if not files:
                    raise ImportSourceError("no markdown (.md) files in the upload")
            except ImportSourceError as exc:
                form.add_error("files", str(exc))
            else:
                report = documents_import(
                    tenant=tenant,
                    files=files,
                    user=request.user,
                    default_status=form.cleaned_data["default_status"],
                    dry_run=form.cleaned_data["dry_run"],
                )
                level = messages.SUCCESS if report.ok else messages.WARNING
                prefix = "Dry run: " if form.cleaned_data["dry_run"] else ""
                self.message_user(request, f"{prefix}{tenant.slug}: {report.summary()}.", level)
        return TemplateResponse(
            request,
            "admin/knowledge/knowledgedocument/import.html",
            self._context(request, "Import markdown documents", form=form, report=report),
        )

    def retrieval_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        data = request.GET if "query" in request.GET else None
        form = RetrievalForm(data)
        tenants = tenant_choices(request, self.view_roles)
        form.fields["tenant"].queryset = tenants
        if len(tenants) == 1:
            form.fields["tenant"].initial = tenants[0].pk
        hits, error, embedder_name = None, None, None
        if data is not None and form.is_valid():
            cleaned = form.cleaned_data
            try:
                embedder = serving_embedder(tenant=cleaned["tenant"])
                embedder_name = embedder.name
                hits = chunk_search(
                    tenant=cleaned["tenant"],
                    query=cleaned["query"],
                    k=cleaned["k"],
                    kinds=cleaned["kinds"],
                    tags=cleaned["tags"],
                    mode=cleaned["mode"],
                    include_drafts=cleaned["include_drafts"],
                    embedder=embedder,
                )
            except (ImproperlyConfigured, EmbeddingError, ValueError) as exc:
                error = redact_secrets(f"{type(exc).__name__}: {exc}")
        return TemplateResponse(
            request,
            "admin/knowledge/knowledgedocument/test_retrieval.html",
            self._context(request, "Test retrieval", form=form, hits=hits, error=error, embedder_name=embedder_name),
        )

    def _document(self, request, object_id) -> KnowledgeDocument:
        document = self.get_object(request, unquote(object_id))  # 404 outside the user's tenants
        if not self.has_view_permission(request, document):
            raise PermissionDenied
        return document

    def versions_view(self, request, object_id):
        document = self._document(request, object_id)
        versions = list(document.versions.select_related("created_by").order_by("-version"))
        return TemplateResponse(
            request,
            "admin/knowledge/knowledgedocument/versions.html",
            self._context(
                request,
                f"Versions of “{document.title}”",
                original=document,
                versions=versions,
                can_restore=self.has_change_permission(request, document),
            ),
        )

    def version_view(self, request, object_id, version):
        document = self._document(request, object_id)
        snapshot = KnowledgeDocumentVersion.objects.for_tenant(document.tenant_id).filter(document=document, version=version).first()
        if snapshot is None:
            raise Http404("No such version.")
        against = request.GET.get("against", "current")
        if against == "previous":
            base = document.versions.filter(version__lt=version).order_by("-version").first()
        elif against.isascii() and against.isdigit():  # str.isdigit() alone accepts "²", which int() rejects
            base = document.versions.filter(version=int(against)).first()
        else:
            base = document.versions.filter(version=document.version).first()
        base_label = f"v{base.version}" if base else "(nothing)"
        diff_html = _diff_table(base, snapshot, base_label=base_label, label=f"v{snapshot.version}")
        return TemplateResponse(
            request,
            "admin/knowledge/knowledgedocument/version_diff.html",
            self._context(
                request,
                f"“{document.title}” v{snapshot.version} compared with {base_label}",
                original=document,
                snapshot=snapshot,
                base=base,
                diff_html=diff_html,
                against=against,
                preview=render_markdown(snapshot.body),
                can_restore=self.has_change_permission(request, document) and snapshot.version != document.version,
            ),
        )

    def restore_view(self, request, object_id, version):
        document = self._document(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:knowledge_knowledgedocument_version", args=[document.pk, version]))
        if not self.has_change_permission(request, document):
            raise PermissionDenied
        try:
            saved = document_restore(document=document, version=version, user=request.user)
        except KnowledgeDocumentVersion.DoesNotExist:
            raise Http404("No such version.") from None
        except ValidationError as exc:
            self.message_user(request, f"Cannot restore v{version}: {' '.join(exc.messages)}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:knowledge_knowledgedocument_versions", args=[document.pk]))
        self.log_change(request, saved, f"Restored version {version} as version {saved.version}.")
        self.message_user(request, f"Restored v{version} of “{saved.title}” as v{saved.version}; it is being re-indexed.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:knowledge_knowledgedocument_change", args=[document.pk]))


def _diff_table(base: KnowledgeDocumentVersion | None, snapshot: KnowledgeDocumentVersion, *, base_label: str, label: str) -> str:
    """Metadata changes plus a side-by-side line diff of the bodies (difflib escapes the text)."""
    rows = []
    for field in ("title", "kind", "status", "tags"):
        old = getattr(base, field, "") if base else ""
        new = getattr(snapshot, field)
        old, new = (", ".join(old) if isinstance(old, list) else old), (", ".join(new) if isinstance(new, list) else new)
        if old != new:
            rows.append((field, old, new))
    meta = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", rows)
    meta_html = (
        format_html('<table class="kb-meta-diff"><tr><th></th><th>{}</th><th>{}</th></tr>{}</table>', base_label, label, meta)
        if rows
        else ""
    )
    old_lines = (base.body if base else "").splitlines()
    new_lines = snapshot.body.splitlines()
    if old_lines == new_lines:
        body = '<p class="kb-diff-same">The bodies are identical.</p>'
    else:
        body = difflib.HtmlDiff(wrapcolumn=60).make_table(
            old_lines, new_lines, fromdesc=escape(base_label), todesc=escape(label), context=True, numlines=3
        )
    return mark_safe(meta_html + body)  # format_html and HtmlDiff escape the document text


# --- knowledge base settings (embedder per tenant) --------------------------------------------------


class KnowledgeBaseSettingsForm(forms.ModelForm):
    embedder = forms.ChoiceField(
        choices=[(spec, spec) for spec in EMBEDDER_SPECS],
        help_text="Changing it re-embeds every document in the background; the current model keeps "
        "answering until the new one is complete.",
    )

    class Meta:
        model = KnowledgeBaseSettings
        fields = ["tenant", "embedder"]

    def clean_embedder(self):
        spec = self.cleaned_data["embedder"]
        try:
            get_embedder(spec)
        except ImproperlyConfigured as exc:
            raise ValidationError(redact_secrets(str(exc))) from exc
        return spec


@admin.register(KnowledgeBaseSettings)
class KnowledgeBaseSettingsAdmin(TenantScopedAdmin):
    change_roles = ROLES_THAT_CONFIGURE  # the embedder is an owner/admin decision
    form = KnowledgeBaseSettingsForm
    list_display = ["tenant", "embedder", "pending_embedder", "reembed_status", "progress", "updated_at"]
    readonly_fields = ["pending_embedder", "reembed_status", "progress", "reembed_error", "reembed_started_at", "reembed_finished_at"]

    def get_readonly_fields(self, request, obj=None):
        return ["tenant", *self.readonly_fields] if obj is not None else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            tenants = self.tenant_choices(request)
            configured = KnowledgeBaseSettings.objects.for_tenants(tenants.values("pk")).values("tenant_id")
            kwargs["queryset"] = tenants.exclude(pk__in=configured)  # one row per tenant
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        tenant = obj.tenant if change else form.cleaned_data["tenant"]
        spec = form.cleaned_data["embedder"]
        if change:
            # The stored spec stays until the re-embedding task switches it.
            obj.embedder = KnowledgeBaseSettings.objects.for_tenant(obj.tenant_id).get(pk=obj.pk).embedder
        config = kb_embedder_change(tenant=tenant, embedder=spec)
        obj.pk = config.pk
        obj.refresh_from_db()
        obj._state.adding = False
        if config.pending_embedder:
            self.message_user(request, f"Re-embedding {tenant.slug} with {spec} in the background; {config.embedder} serves meanwhile.")

    @admin.display(description="Progress")
    def progress(self, obj) -> str:
        if not obj.pending_embedder:
            return "—"
        return f"{obj.reembed_done} / {obj.reembed_total} documents"
