"""``manage.py tenant_settings --tenant SLUG [--set PATH=JSON ...] [--unset PATH ...]``."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from tenants.models import Tenant
from tenants.settings_schema import TenantSettingsInvalid, tenant_settings_set


class Command(BaseCommand):
    help = (
        "Show or change a tenant's settings, validated against tenants.settings_schema: "
        "tenant_settings --tenant SLUG [--set PATH=JSON ...] [--unset PATH ...]. "
        "PATH is dotted (budgets.max_tool_calls); JSON is a JSON value, or plain text for a string "
        "(--set llm_provider=bedrock, --set 'actions.auto_approve=[\"webhook\"]'). Prints the stored settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--set", action="append", default=[], metavar="PATH=JSON")
        parser.add_argument("--unset", action="append", default=[], metavar="PATH")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        changes = {}
        for item in opts["set"]:
            path, sep, raw = item.partition("=")
            if not sep or not path.strip():
                raise CommandError(f"--set {item!r}: write PATH=JSON, e.g. budgets.max_tool_calls=4")
            try:
                changes[path.strip()] = json.loads(raw)
            except json.JSONDecodeError:
                changes[path.strip()] = raw  # plain text: a string value
        if changes or opts["unset"]:
            try:
                tenant_settings_set(tenant=tenant, changes=changes, unset=tuple(opts["unset"]))
            except TenantSettingsInvalid as exc:
                raise CommandError("; ".join(f"{path or 'settings'}: {', '.join(msgs)}" for path, msgs in exc.errors.items())) from None
        self.stdout.write(json.dumps(tenant.settings, indent=2, sort_keys=True))
