from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.services import apikey_create


class Command(BaseCommand):
    help = "Create an API key for a tenant; the key is printed alone on the last line, once."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", default="default")
        parser.add_argument("--can-approve", action="store_true", help="the key may approve or reject proposed actions")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        row, key = apikey_create(tenant=tenant, name=opts["name"], can_approve=opts["can_approve"])
        self.stdout.write(f"API key {row.name!r} for tenant {tenant.slug} (shown once, store it now):")
        self.stdout.write(key)
