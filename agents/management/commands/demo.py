from pathlib import Path

from django.core.management.base import BaseCommand

from agents.demo import demo_setup
from tenants.settings_schema import tenant_config


class Command(BaseCommand):
    help = "Create or refresh the demo tenant (warehouse from the CRM sample, KB documents, API key)."

    def add_arguments(self, parser):
        parser.add_argument("--key-file", help="also write the new API key to this file (mode 600)")

    def handle(self, *args, **opts):
        info = demo_setup()
        for table, rows in info.tables.items():
            self.stdout.write(f"warehouse table {table}: {rows} rows")
        self.stdout.write(f"knowledge documents: {info.documents}")
        self.stdout.write(f"tenant {info.tenant.slug}: as-of date {tenant_config(info.tenant).as_of_date}")
        if opts["key_file"]:
            path = Path(opts["key_file"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(info.api_key + "\n")
            path.chmod(0o600)
        self.stdout.write("API key (shown once):")
        self.stdout.write(info.api_key)
