"""Knowledge base: tenant documents (markdown, optional YAML front matter) and their searchable chunks.

A document is what RevOps editors write in the admin; chunks are derived from it by
:func:`knowledge.services.document_index` and are never edited by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.db import models
from pgvector.django import VectorField

from knowledge.frontmatter import FrontMatterError, split_front_matter
from knowledge.kinds import DocumentKind, DocumentStatus, IndexStatus  # re-exported: the models' choices
from knowledge.validation import validate_document_params
from tenants.models import TenantOwnedModel


def validate_front_matter(value: str) -> None:
    """Field validator: the body's YAML front matter (if any) must parse to a mapping."""
    try:
        split_front_matter(value)
    except FrontMatterError as exc:
        raise ValidationError(str(exc), code="front_matter") from exc


class KnowledgeDocument(TenantOwnedModel):
    """A markdown document of business rules, ICP, SQL patterns, playbooks...

    ``body`` may start with YAML front matter between two ``---`` lines; code reads rule
    parameters from it (:func:`knowledge.selectors.document_params`), validated per kind and
    ``rule_set`` by :mod:`knowledge.validation`. ``version`` starts at 1 and is incremented by
    :func:`knowledge.services.document_save` whenever kind, title, body, status or tags change;
    each version is kept as a :class:`KnowledgeDocumentVersion`. ``index_status`` tracks the
    derived chunks: ``pending`` after each save, then ``indexed`` or ``failed`` (with
    ``index_error``). Only ``status == "published"`` documents are retrieved by the agents.
    """

    kind = models.CharField(max_length=32, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    title = models.CharField(max_length=200)
    body = models.TextField(
        blank=True,
        validators=[validate_front_matter],
        help_text="Markdown. Optional YAML front matter between a first line '---' and the next '---' line.",
    )
    status = models.CharField(
        max_length=16,
        choices=DocumentStatus.choices,
        default=DocumentStatus.PUBLISHED,
        help_text="Only published documents are used by the agents.",
    )
    tags = ArrayField(
        models.CharField(max_length=50),
        default=list,
        blank=True,
        help_text="Comma-separated labels (lower-case), usable as retrieval filters.",
    )
    version = models.PositiveIntegerField(default=1)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    index_status = models.CharField(max_length=16, choices=IndexStatus.choices, default=IndexStatus.PENDING)
    index_error = models.TextField(blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta(TenantOwnedModel.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "title"],
                name="knowledge_document_uniq_tenant_title",
                violation_error_message="A document with this title already exists in this tenant.",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "kind", "-updated_at"], name="knowledge_doc_tenant_kind"),
            models.Index(fields=["tenant", "status"], name="knowledge_doc_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        """Validate the front matter against the rules of ``kind`` (and of its ``rule_set``).

        Raises:
            ValidationError: on ``body``, listing every problem with its key path.
        """
        try:
            params, _ = split_front_matter(self.body or "")
        except FrontMatterError:
            return  # reported by the field validator
        problems = validate_document_params(kind=self.kind, params=params)
        if problems:
            raise ValidationError({"body": problems})


class KnowledgeChunk(TenantOwnedModel):
    """A self-describing piece of a document (heading path line + text) with its embedding.

    ``embedding`` is a dimension-less ``vector`` column so chunks embedded by several models can
    coexist (a document has one set of chunks per model while a tenant is re-embedded);
    ``embedding_model`` (e.g. ``hashing-384``) says which model and hence which dimension.
    Searches cast to that dimension, matching a per-model partial HNSW expression index
    (:mod:`knowledge.vector_index`). ``search_vector`` is the full-text side (title weight A,
    heading path B, text C; ``english`` configuration) behind a GIN index.
    ``document_version`` is the document version the chunk was built from; ``document_status``,
    ``document_kind`` and ``document_tags`` copy the document's (kept in step by
    :func:`knowledge.services.document_save`) so retrieval filters are plain row predicates that
    an HNSW iterative scan can apply while it walks the index.
    """

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    heading_path = models.TextField(blank=True)
    text = models.TextField()
    embedding = VectorField()
    embedding_model = models.CharField(max_length=64)
    document_version = models.PositiveIntegerField(default=1)
    document_status = models.CharField(max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PUBLISHED)
    document_kind = models.CharField(max_length=32, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    document_tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    search_vector = SearchVectorField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["document_id", "position"]
        indexes = [
            models.Index(fields=["tenant", "document"], name="knowledge_chunk_tenant_doc"),
            models.Index(fields=["tenant", "embedding_model"], name="knowledge_chunk_tenant_model"),
            GinIndex(fields=["search_vector"], name="knowledge_chunk_fts"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position} {self.heading_path}"


class KnowledgeDocumentVersion(TenantOwnedModel):
    """A snapshot of a document as saved at ``version`` (who, when, what, and why).

    Written by :func:`knowledge.services.document_save` for every version, so version N of a
    document can be diffed against any other and restored (restoring writes a new version).
    """

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=32, choices=DocumentKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=DocumentStatus.choices)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=200, blank=True, help_text="e.g. 'restored from v2', 'imported from icp.md'")

    class Meta(TenantOwnedModel.Meta):
        ordering = ["document_id", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["document", "version"], name="knowledge_docversion_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class ReembedStatus(models.TextChoices):
    IDLE = "idle", "Idle"
    RUNNING = "running", "Re-embedding"
    FAILED = "failed", "Failed"


class KnowledgeBaseSettings(TenantOwnedModel):
    """Per-tenant knowledge-base settings: which embedder serves searches, and a model change in
    progress.

    ``embedder`` is an embedder spec (see :func:`knowledge.embedders.get_embedder`, e.g.
    ``hashing``, ``bedrock-512``, ``openai``, ``local``); searches embed queries with it and read
    only chunks of its model. ``pending_embedder`` is set while the tenant is re-embedded in the
    background (:func:`knowledge.services.kb_reembed`): documents then get chunks for both models
    and the old one keeps serving until every document has chunks of the new one, when the two
    are swapped in one transaction and the old chunks deleted. A tenant without a row uses
    ``settings.KB_EMBEDDER``; the first indexing creates the row, pinning that model.
    """

    embedder = models.CharField(max_length=64)
    pending_embedder = models.CharField(max_length=64, blank=True)
    reembed_status = models.CharField(max_length=16, choices=ReembedStatus.choices, default=ReembedStatus.IDLE)
    reembed_error = models.TextField(blank=True)
    reembed_done = models.PositiveIntegerField(default=0)
    reembed_total = models.PositiveIntegerField(default=0)
    reembed_started_at = models.DateTimeField(null=True, blank=True)
    reembed_finished_at = models.DateTimeField(null=True, blank=True)
    chunk_count = models.PositiveIntegerField(
        default=0, help_text="Chunks of the serving model, refreshed on indexing; picks exact or HNSW search."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(TenantOwnedModel.Meta):
        verbose_name = "knowledge base settings"
        verbose_name_plural = "knowledge base settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="knowledge_settings_uniq_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant} knowledge base ({self.embedder})"
