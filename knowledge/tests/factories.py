"""Test helpers for the knowledge app."""

from __future__ import annotations

from django.test import TestCase

from knowledge.models import KnowledgeDocument
from knowledge.services import document_save


def make_document(*, tenant, title: str, body: str, kind: str = "business_logic", user=None) -> KnowledgeDocument:
    """Save a document through the service and run its on-commit indexing (sync django-q2 task)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        document = document_save(tenant=tenant, kind=kind, title=title, body=body, user=user)
    document.refresh_from_db()
    return document


def update_document(document: KnowledgeDocument, *, body: str, kind: str | None = None, user=None) -> KnowledgeDocument:
    """Update ``document``'s body (and kind) through the service and run its indexing."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        saved = document_save(
            tenant=document.tenant,
            kind=kind or document.kind,
            title=document.title,
            body=body,
            user=user,
            document=document,
        )
    saved.refresh_from_db()
    return saved


def run_on_commit():
    """Context manager: run the on-commit callbacks (indexing tasks) registered inside it."""
    return TestCase.captureOnCommitCallbacks(execute=True)
