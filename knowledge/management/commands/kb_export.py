from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.models import DocumentKind, DocumentStatus, KnowledgeDocument
from knowledge.transfer import documents_export, export_zip
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Export a tenant's knowledge base as markdown files with front matter (kb_import reads them "
        "back unchanged): into a folder, or a .zip when PATH ends in .zip."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("path", help="output folder (created) or .zip file")
        parser.add_argument("--kind", action="append", choices=DocumentKind.values, help="only these kinds (repeatable)")
        parser.add_argument("--status", choices=DocumentStatus.values, help="only this status")
        parser.add_argument("--force", action="store_true", help="overwrite existing files")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        documents = KnowledgeDocument.objects.for_tenant(tenant).order_by("title")
        if opts["kind"]:
            documents = documents.filter(kind__in=opts["kind"])
        if opts["status"]:
            documents = documents.filter(status=opts["status"])
        path = Path(opts["path"])
        if path.suffix.lower() == ".zip":
            if path.exists() and not opts["force"]:
                raise CommandError(f"{path} exists (use --force)")
            path.write_bytes(export_zip(documents))
            count = documents.count()
        else:
            files = documents_export(documents)
            path.mkdir(parents=True, exist_ok=True)
            clashes = [name for name, _ in files if (path / name).exists()]
            if clashes and not opts["force"]:
                raise CommandError(f"{len(clashes)} file(s) exist in {path}, e.g. {clashes[0]} (use --force)")
            for name, text in files:
                (path / name).write_text(text, encoding="utf-8")
            count = len(files)
        self.stdout.write(f"{tenant.slug}: exported {count} document(s) to {path}")
