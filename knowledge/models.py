"""Knowledge base: tenant documents (markdown, optional YAML front matter) and their searchable chunks.

A document is what RevOps editors write in the admin; chunks are derived from it by
:func:`knowledge.services.document_index` and are never edited by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from pgvector.django import VectorField

from knowledge.frontmatter import FrontMatterError, split_front_matter
from tenants.models import TenantOwnedModel


class DocumentKind(models.TextChoices):
    BUSINESS_LOGIC = "business_logic", "Business logic"
    ICP = "icp", "Ideal customer profile"
    SQL_PATTERN = "sql_pattern", "SQL pattern"
    WORKFLOW = "workflow", "Workflow"
    SEMANTIC_MODEL = "semantic_model", "Semantic model"
    PLAYBOOK = "playbook", "Playbook"
    OTHER = "other", "Other"


class IndexStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    INDEXED = "indexed", "Indexed"
    FAILED = "failed", "Failed"


def validate_front_matter(value: str) -> None:
    """Field validator: the body's YAML front matter (if any) must parse to a mapping."""
    try:
        split_front_matter(value)
    except FrontMatterError as exc:
        raise ValidationError(str(exc), code="front_matter") from exc


class KnowledgeDocument(TenantOwnedModel):
    """A markdown document of business rules, ICP, SQL patterns, playbooks...

    ``body`` may start with YAML front matter between two ``---`` lines; code reads rule
    parameters from it (:func:`knowledge.selectors.document_params`). ``version`` starts at 1 and
    is incremented by :func:`knowledge.services.document_save` whenever kind, title or body change.
    ``index_status`` tracks the derived chunks: ``pending`` after each save, then ``indexed`` or
    ``failed`` (with ``index_error``).
    """

    kind = models.CharField(max_length=32, choices=DocumentKind.choices, default=DocumentKind.OTHER)
    title = models.CharField(max_length=200)
    body = models.TextField(
        blank=True,
        validators=[validate_front_matter],
        help_text="Markdown. Optional YAML front matter between a first line '---' and the next '---' line.",
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
        indexes = [models.Index(fields=["tenant", "kind", "-updated_at"], name="knowledge_doc_tenant_kind")]

    def __str__(self) -> str:
        return self.title


class KnowledgeChunk(TenantOwnedModel):
    """A self-describing piece of a document (heading path line + text) with its embedding.

    ``embedding`` is a dimension-less ``vector`` column so chunks embedded by several models can
    coexist; ``embedding_model`` (e.g. ``hashing-384``) says which model and hence which
    dimension. Searches cast to that dimension, matching a per-model partial HNSW index
    (migration 0001 creates the one for ``hashing-384``).
    """

    document = models.ForeignKey(KnowledgeDocument, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    heading_path = models.TextField(blank=True)
    text = models.TextField()
    embedding = VectorField()
    embedding_model = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta(TenantOwnedModel.Meta):
        ordering = ["document_id", "position"]
        indexes = [models.Index(fields=["tenant", "document"], name="knowledge_chunk_tenant_doc")]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position} {self.heading_path}"
