"""KB import never answers 500 (issue 13, finding 3 and the NUL rule): a zip member with a bad CRC
or a corrupt deflate stream is a form error (admin) or a command error (kb_import) naming the
file; a file whose text or title PostgreSQL cannot store (NUL, unpaired surrogate) is reported
as that file's error while the others are imported."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from knowledge.models import KnowledgeDocument
from knowledge.tests.factories import run_on_commit
from knowledge.transfer import ImportSourceError, documents_import, read_zip

IMPORT = reverse("admin:knowledge_knowledgedocument_import")


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def bad_crc_zip() -> bytes:
    """``kb/good.md`` intact and ``kb/broken.md`` whose stored bytes no longer match its CRC."""
    data = _zip({"kb/good.md": b"# Good\n\nfine\n", "kb/broken.md": b"# Broken\n\nalpha text\n"})
    assert data.count(b"alpha text") == 1
    return data.replace(b"alpha text", b"alphX text")


def corrupt_deflate_zip() -> bytes:
    """A deflated member whose compressed stream is garbage (``zlib.error`` when read)."""
    text = b"# Deflated\n\n" + b"some words that compress well " * 40
    data = bytearray(_zip({"deflated.md": text}, zipfile.ZIP_DEFLATED))
    info = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("deflated.md")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start : start + 8] = b"\xff" * 8
    return bytes(data)


def _no_documents(tenant) -> bool:
    return not KnowledgeDocument.objects.unscoped().filter(tenant=tenant).exists()


@pytest.mark.parametrize(("archive", "member"), [(bad_crc_zip, "kb/broken.md"), (corrupt_deflate_zip, "deflated.md")])
def test_read_zip_names_the_member_it_cannot_read(archive, member):
    with pytest.raises(ImportSourceError, match=f"{member} cannot be read from the archive"):
        read_zip(archive())


def test_admin_import_of_a_bad_crc_zip_is_a_form_error_naming_the_file(client, world_a):
    client.force_login(world_a.editor)
    response = client.post(
        IMPORT, {"tenant": world_a.tenant.pk, "files": SimpleUploadedFile("kb.zip", bad_crc_zip()), "default_status": "published"}
    )
    assert response.status_code == 200
    assert "kb/broken.md cannot be read from the archive" in response.text
    assert "Bad CRC-32" in response.text
    assert _no_documents(world_a.tenant)  # the whole upload is refused, nothing half-imported


def test_kb_import_command_of_a_bad_crc_zip_names_the_file(world_a, tmp_path):
    path = tmp_path / "kb.zip"
    path.write_bytes(bad_crc_zip())
    with pytest.raises(CommandError, match="kb/broken.md cannot be read from the archive"):
        call_command("kb_import", str(path), tenant=world_a.tenant.slug)
    assert _no_documents(world_a.tenant)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("# Nul\n\nbefore\x00after\n", "the file contains a NUL character (U+0000) at position 13"),
        ('---\ntitle: "bad\\0title"\n---\ntext\n', "title contains a NUL character (U+0000) at position 3"),
    ],
)
def test_text_postgres_cannot_store_is_that_files_error(world_a, text, reason):
    with run_on_commit():
        report = documents_import(tenant=world_a.tenant, files=[("bad.md", text), ("ok.md", "# Fine\n\ntext\n")])
    assert report.created == ["ok.md"]
    assert len(report.errors) == 1 and report.errors[0][0] == "bad.md" and reason in report.errors[0][1]
    assert list(KnowledgeDocument.objects.unscoped().filter(tenant=world_a.tenant).values_list("title", flat=True)) == ["Fine"]


def test_admin_upload_of_a_file_with_nul_reports_it_and_imports_the_rest(client, world_a, django_capture_on_commit_callbacks):
    client.force_login(world_a.editor)
    files = [SimpleUploadedFile("nul.md", b"# Nul\n\nbefore\x00after\n"), SimpleUploadedFile("ok.md", b"# Fine\n\ntext\n")]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT, {"tenant": world_a.tenant.pk, "files": files, "default_status": "published"})
    assert response.status_code == 200
    assert "1 created" in response.text and "1 failed" in response.text
    assert "NUL character" in response.text
    assert list(KnowledgeDocument.objects.unscoped().filter(tenant=world_a.tenant).values_list("title", flat=True)) == ["Fine"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"title": "Nul\x00title", "body": "# Fine\n\ntext\n"}, "Null characters are not allowed."),
        ({"title": "Fine", "body": "# Fine\n\nbefore\x00after\n"}, "Null characters are not allowed."),
        ({"title": "Fine", "body": "# Fine\n\ntext\n", "tags": "deals\x00"}, "Invalid tag"),
    ],
)
def test_admin_document_form_refuses_nul_with_a_field_error(client, world_a, overrides, message):
    # The KB admin's own form: Django's form fields refuse NUL before anything reaches the database.
    client.force_login(world_a.editor)
    data = {"kind": "business_logic", "status": "published", "tags": "", "_save": "Save", "tenant": world_a.tenant.pk, **overrides}
    response = client.post(reverse("admin:knowledge_knowledgedocument_add"), data)
    assert response.status_code == 200
    assert message in response.text
    assert _no_documents(world_a.tenant)
