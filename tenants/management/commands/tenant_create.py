from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant: tenant_create SLUG --name NAME [--time-zone TZ]"

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--time-zone", default="UTC")

    def handle(self, *args, **opts):
        try:
            tenant = tenant_create(slug=opts["slug"], name=opts["name"], time_zone=opts["time_zone"])
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"created tenant {tenant.slug} (id {tenant.pk})")
