"""manage.py connector_test: the admin's "Test connection" from the command line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.connector_checks import connector_check
from integrations.management.commands.connector_set import resolve_spec
from integrations.forms import SPECS
from integrations.models import ConnectorCredential
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Test a tenant's connector with one real call (warehouse SELECT 1 as the reader role, Slack auth.test, "
        "Salesforce limits, one web search): connector_test --tenant SLUG --kind KIND [--name NAME]. "
        "Exits 1 with the reason when the test fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--kind", required=True, help="one of: " + ", ".join(SPECS))
        parser.add_argument("--name", help="credential name (default: 'default')")

    def handle(self, *args, **opts) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        spec, name = resolve_spec(opts["kind"], opts["name"])
        credential = ConnectorCredential.objects.for_tenant(tenant).filter(kind=spec.kind, name=name).first()
        if credential is None:
            raise CommandError(f"tenant {tenant.slug} has no {spec.key} connector named {name!r}")
        result = connector_check(credential=credential)
        for hint in result.hints:
            self.stdout.write(f"hint: {hint}")
        if not result.ok:
            raise CommandError(f"{credential}: {result.message}")
        self.stdout.write(f"ok: {result.message}")
