from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from knowledge.models import DocumentStatus
from knowledge.transfer import ImportSourceError, documents_import, read_folder, read_zip
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Import a folder (recursively) or a .zip of markdown files into a tenant's knowledge base. "
        "Front matter gives title/kind/status/tags; documents are matched by title. "
        "Exit status 1 when any file failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("path", help="folder of .md files, or a .zip archive")
        parser.add_argument(
            "--status",
            choices=DocumentStatus.values,
            default=DocumentStatus.PUBLISHED,
            help="status of files whose front matter has none (default: published)",
        )
        parser.add_argument("--dry-run", action="store_true", help="validate and report, change nothing")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        path = Path(opts["path"])
        try:
            files = read_zip(path.read_bytes()) if path.is_file() and path.suffix.lower() == ".zip" else read_folder(path)
        except (ImportSourceError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        with tenant_context(tenant):
            report = documents_import(tenant=tenant, files=files, default_status=opts["status"], dry_run=opts["dry_run"])
        for label, names in (("created", report.created), ("updated", report.updated), ("unchanged", report.unchanged)):
            for name in names:
                self.stdout.write(f"{label:9} {name}")
        for name, message in report.errors:
            self.stderr.write(f"FAILED    {name}: {message}")
        self.stdout.write(("[dry run] " if opts["dry_run"] else "") + f"{tenant.slug}: {report.summary()}")
        if not report.ok:
            raise CommandError(f"{len(report.errors)} file(s) failed", returncode=1)
