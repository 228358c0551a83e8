"""Bulk import and export of knowledge documents as markdown files with YAML front matter.

File format (the one of ``knowledge/demo_docs``)::

    ---
    title: Deal risk warnings      # else the first '# heading', else the file name
    kind: business_logic           # else 'other'
    status: published              # else the importer's default (published)
    tags: [deals, risk]            # else none
    rule_set: deal_risks           # ...any parameters the document carries
    ---
    # Deal risk warnings
    ...

Import stores each file's text verbatim as the body and upserts by title within the tenant
(through :func:`knowledge.services.document_save`, so versions, validation and indexing apply).
Export writes the same format and adds to the front matter only the metadata an import would not
infer by itself, so exporting and re-importing is a no-op (no new versions).
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from knowledge.frontmatter import FrontMatterError, split_front_matter
from knowledge.models import DocumentKind, DocumentStatus, KnowledgeDocument
from knowledge.services import document_save, normalise_tags
from revops.lib.text import db_text_problem
from tenants.models import Tenant

MARKDOWN_SUFFIXES = (".md", ".markdown")
# Limits of one import (a zip upload or a folder): files, bytes per file, bytes in all.
MAX_FILES = 1000
MAX_FILE_BYTES = 1_000_000
MAX_TOTAL_BYTES = 50_000_000
_H1_RE = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_METADATA_KEYS = ("title", "kind", "status", "tags")


class ImportSourceError(ValueError):
    """The folder or archive cannot be read as a set of markdown files (limits, bad zip)."""


@dataclass
class ImportReport:
    """Outcome per file name: created, updated, unchanged, or an error message."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged, "
            f"{len(self.errors)} failed"
        )


def first_heading(markdown: str) -> str | None:
    """The text of the first level-1 ATX heading, or None."""
    match = _H1_RE.search(markdown)
    return match.group(1).strip() if match else None


def _metadata(name: str, text: str, *, default_status: str) -> tuple[dict, str]:
    """``({title, kind, status, tags}, body)`` read from a file.

    Raises ValidationError: bad front matter, a title that is not text, or a text or title with
    characters PostgreSQL cannot store (NUL, unpaired surrogates; :func:`db_text_problem`).
    """
    problem = db_text_problem(text)
    if problem:  # PostgreSQL cannot store it: refuse the file with the reason, never a DataError
        raise ValidationError(f"the file {problem}")
    try:
        params, markdown = split_front_matter(text)
    except FrontMatterError as exc:
        raise ValidationError(str(exc)) from exc
    title = params.get("title") or first_heading(markdown) or Path(name).stem.replace("_", " ").replace("-", " ").capitalize()
    kind = params.get("kind") or DocumentKind.OTHER
    status = params.get("status") or default_status
    tags = normalise_tags(params.get("tags"))
    if not isinstance(title, str):
        raise ValidationError(f"title must be text, got {title!r}")
    problem = db_text_problem(title)
    if problem:  # a YAML escape ("\\0", "\\x00") in the front matter's title
        raise ValidationError(f"title {problem}")
    return {"title": title.strip(), "kind": kind, "status": status, "tags": tags}, text


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{key}: {' '.join(msgs)}" if key != "__all__" else " ".join(msgs) for key, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


def documents_import(
    *,
    tenant: Tenant,
    files: Iterable[tuple[str, str]],
    user=None,
    default_status: str = DocumentStatus.PUBLISHED,
    dry_run: bool = False,
) -> ImportReport:
    """Create or update ``tenant``'s documents from ``(file name, text)`` pairs.

    Documents are matched by title (after the metadata rules in the module docstring). Each file
    is saved in its own savepoint, so one bad file does not stop the others; ``dry_run`` rolls
    every change back (validation still runs). Two files with the same title in one import: the
    second is reported as an error.

    Returns an :class:`ImportReport`. Never raises for a bad file (it is reported).
    """
    report = ImportReport()
    seen_titles: set[str] = set()
    with transaction.atomic():
        for name, text in files:
            try:
                meta, body = _metadata(name, text, default_status=default_status)
                if meta["title"] in seen_titles:
                    raise ValidationError(f"another file of this import has the title {meta['title']!r}")
                seen_titles.add(meta["title"])
                existing = KnowledgeDocument.objects.for_tenant(tenant).filter(title=meta["title"]).first()
                if existing is not None and (
                    existing.kind,
                    existing.body,
                    existing.status,
                    list(existing.tags),
                ) == (meta["kind"], body, meta["status"], meta["tags"]):
                    report.unchanged.append(name)
                    continue
                with transaction.atomic():
                    document_save(
                        tenant=tenant,
                        kind=meta["kind"],
                        title=meta["title"],
                        body=body,
                        status=meta["status"],
                        tags=meta["tags"],
                        user=user,
                        document=existing,
                        note=f"imported from {Path(name).name}"[:200],
                    )
                (report.created if existing is None else report.updated).append(name)
            except ValidationError as exc:
                report.errors.append((name, _messages(exc)))
        if dry_run:
            transaction.set_rollback(True)
    return report


def read_folder(path: Path) -> list[tuple[str, str]]:
    """``(relative name, text)`` of every markdown file under ``path`` (recursive, sorted).

    Raises:
        ImportSourceError: not a folder, too many or too large files, or a file not UTF-8.
    """
    if not path.is_dir():
        raise ImportSourceError(f"{path} is not a folder")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MARKDOWN_SUFFIXES)
    return decode_files((str(p.relative_to(path)), p.read_bytes()) for p in files)


def read_zip(data: bytes) -> list[tuple[str, str]]:
    """``(name, text)`` of the markdown files in a zip archive (folders inside are fine).

    Raises:
        ImportSourceError: not a zip, too many or too large files (checked on the declared sizes
            before anything is decompressed), or a file not UTF-8.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ImportSourceError("the upload is not a zip archive") from exc
    members = [
        m for m in archive.infolist()
        if not m.is_dir() and m.filename.lower().endswith(MARKDOWN_SUFFIXES) and not Path(m.filename).name.startswith(".")
        and "__MACOSX" not in m.filename
    ]
    if len(members) > MAX_FILES:
        raise ImportSourceError(f"too many files ({len(members)}; at most {MAX_FILES})")
    for member in members:
        if member.file_size > MAX_FILE_BYTES:
            raise ImportSourceError(f"{member.filename} is larger than {MAX_FILE_BYTES:,} bytes")
    if sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
        raise ImportSourceError(f"the archive holds more than {MAX_TOTAL_BYTES:,} bytes of markdown")
    return decode_files((m.filename, _read_member(archive, m)) for m in sorted(members, key=lambda m: m.filename))


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    """The bytes of one archive member (at most ``MAX_FILE_BYTES + 1``).

    Raises:
        ImportSourceError: naming the member, when it cannot be read: bad CRC or truncated data
            (``BadZipFile``, ``EOFError``), a corrupt deflate stream (``zlib.error``), encrypted
            (``RuntimeError``), an unsupported compression method (``NotImplementedError``) or a
            broken header (``ValueError``, ``OSError``).
    """
    try:
        return archive.read(member)[: MAX_FILE_BYTES + 1]
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError, ValueError, OSError) as exc:
        raise ImportSourceError(f"{member.filename} cannot be read from the archive ({exc})") from exc


def decode_files(items: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """``(name, text)`` from ``(name, raw bytes)``, enforcing the import limits.

    Raises:
        ImportSourceError: too many files, a file or the total too large, a file not UTF-8.
    """
    out: list[tuple[str, str]] = []
    total = 0
    for name, raw in items:
        if len(out) >= MAX_FILES:
            raise ImportSourceError(f"too many files (at most {MAX_FILES})")
        if len(raw) > MAX_FILE_BYTES:
            raise ImportSourceError(f"{name} is larger than {MAX_FILE_BYTES:,} bytes")
        total += len(raw)
        if total > MAX_TOTAL_BYTES:
            raise ImportSourceError(f"more than {MAX_TOTAL_BYTES:,} bytes of markdown")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ImportSourceError(f"{name} is not UTF-8 text") from exc
        out.append((name, text))
    return out


# --- export ---------------------------------------------------------------------------------------


def _strip_top_level_keys(yaml_text: str, keys: set[str]) -> str:
    """Remove top-level ``key:`` entries (with their indented or ``- `` continuation lines)."""
    out: list[str] = []
    skipping = False
    for line in yaml_text.splitlines(keepends=True):
        top = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if top:
            skipping = top.group(1) in keys
        elif line[:1] not in (" ", "\t", "-") and line.strip():
            skipping = False  # a comment or other top-level content
        if not skipping:
            out.append(line)
    return "".join(out)


def export_text(document: KnowledgeDocument) -> str:
    """The document as a markdown file that :func:`documents_import` reads back to the same row.

    Metadata keys (title, kind, status, tags) are written into the front matter only when the
    front matter lacks them or disagrees and an import would not infer them (title from the first
    heading; kind ``other``; status ``published``; no tags). Other front matter, comments
    included, is kept as written.
    """
    body = document.body
    try:
        params, markdown = split_front_matter(body)
    except FrontMatterError:
        params, markdown = {}, body
    wanted = {"title": document.title, "kind": document.kind, "status": document.status, "tags": list(document.tags)}
    inferred = {
        "title": params.get("title") or first_heading(markdown),
        "kind": params.get("kind") or DocumentKind.OTHER,
        "status": params.get("status") or DocumentStatus.PUBLISHED,
        "tags": normalise_tags(params.get("tags")),
    }
    needed = {key: wanted[key] for key in _METADATA_KEYS if inferred[key] != wanted[key]}
    if not needed:
        return body
    header = yaml.safe_dump(needed, sort_keys=False, allow_unicode=True, default_flow_style=False)
    lines = body.splitlines(keepends=True)
    has_block = bool(params) or (lines and lines[0].rstrip().lstrip("\ufeff") == "---")
    if has_block:
        closing = next(i for i in range(1, len(lines)) if lines[i].rstrip() == "---")
        yaml_text = _strip_top_level_keys("".join(lines[1:closing]), set(needed))
        text = "---\n" + header + yaml_text + "".join(lines[closing:])
        try:
            check, _ = split_front_matter(text)
        except FrontMatterError:
            check = None
        if check != {**params, **needed}:  # unusual YAML layout: rewrite the block whole
            text = "---\n" + yaml.safe_dump({**params, **needed}, sort_keys=False, allow_unicode=True) + "---\n" + markdown
        return text
    return "---\n" + header + "---\n" + body


def export_filename(document: KnowledgeDocument, taken: set[str]) -> str:
    """``<slug of title>.md``, made unique against ``taken`` (which it updates)."""
    stem = slugify(document.title) or f"document-{document.pk}"
    name, n = f"{stem}.md", 2
    while name in taken:
        name, n = f"{stem}-{n}.md", n + 1
    taken.add(name)
    return name


def documents_export(documents: Iterable[KnowledgeDocument]) -> list[tuple[str, str]]:
    """``(file name, text)`` for each document, in the given order."""
    taken: set[str] = set()
    return [(export_filename(d, taken), export_text(d)) for d in documents]


def export_zip(documents: Iterable[KnowledgeDocument]) -> bytes:
    """A zip archive of :func:`documents_export` (deflated)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in documents_export(documents):
            archive.writestr(name, text)
    return buffer.getvalue()
