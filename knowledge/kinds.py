"""Choices of knowledge-base documents: kind, publication status, index status.

Plain ``TextChoices`` below both :mod:`knowledge.models` and :mod:`knowledge.validation` (which
checks a document's declared ``kind``), so the models can validate documents without the
validator importing the models back. :mod:`knowledge.models` re-exports them.
"""

from django.db import models


class DocumentKind(models.TextChoices):
    BUSINESS_LOGIC = "business_logic", "Business logic"
    ICP = "icp", "Ideal customer profile"
    SQL_PATTERN = "sql_pattern", "SQL pattern"
    WORKFLOW = "workflow", "Workflow"
    SEMANTIC_MODEL = "semantic_model", "Semantic model"
    PLAYBOOK = "playbook", "Playbook"
    OTHER = "other", "Other"


class DocumentStatus(models.TextChoices):
    """Only published documents are retrieved by the agents; drafts are indexed (so editors can
    try them in the admin's test-retrieval box) but never returned by default."""

    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


class IndexStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    INDEXED = "indexed", "Indexed"
    FAILED = "failed", "Failed"
