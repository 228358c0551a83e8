"""manage.py slack_manifest: a Slack app manifest for one tenant, ready to paste."""

from __future__ import annotations

import json
import re

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.selectors import slack_manifest_build
from tenants.models import Tenant

_HOST_RE = re.compile(r"^(?=.{1,253}(:\d{1,5})?$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?$")


class Command(BaseCommand):
    help = (
        "Print a Slack app manifest for a tenant: slack_manifest --tenant SLUG --host HOST [--format yaml|json] "
        "[--app-name NAME]. Paste it in https://api.slack.com/apps → Create New App → From a manifest."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--host", required=True, help="public host name of this server, e.g. revops.example.com (https is assumed)")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("--app-name", default="RevOps AI", help="app and bot display name")

    def handle(self, *args, **opts) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        host = opts["host"].strip().rstrip("/")
        if host.startswith("https://"):
            host = host[len("https://"):]
        if host.startswith("http://"):
            raise CommandError("Slack calls request URLs over https only: give the host name, e.g. revops.example.com")
        if not _HOST_RE.match(host):
            raise CommandError(f"--host {host!r} is not a host name (with an optional :port), e.g. revops.example.com")
        app_name = opts["app_name"].strip()
        if not app_name:
            raise CommandError("--app-name must not be empty")
        manifest = slack_manifest_build(tenant_slug=tenant.slug, host=host, app_name=app_name)
        if opts["format"] == "json":
            self.stdout.write(json.dumps(manifest, indent=2))
        else:
            self.stdout.write(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True).rstrip())
