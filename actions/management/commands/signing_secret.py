"""``manage.py signing_secret --tenant SLUG [--endpoint ID] [--rotate] [--grace-hours H]``

Prints the active ``whsec_`` secrets signing a tenant's run callbacks (or one endpoint's
webhooks), creating the callback secret on first use; ``--rotate`` adds a new secret (printed
last) and lets the current ones expire after the grace period (default 24 h).
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from actions.models import WebhookEndpoint
from actions.selectors import signing_secrets_active
from actions.services import callback_secrets_ensure, signing_secret_rotate
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Show or rotate the signing secret of a tenant's run callbacks or of a webhook endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--endpoint", type=int, default=None, help="webhook endpoint id (default: run callbacks)")
        parser.add_argument("--rotate", action="store_true")
        parser.add_argument("--grace-hours", type=float, default=24.0)

    def handle(self, *args, tenant: str, endpoint: int | None, rotate: bool, grace_hours: float, **options):
        row = Tenant.objects.filter(slug=tenant).first()
        if row is None:
            raise CommandError(f"no tenant {tenant!r}")
        target = None
        if endpoint is not None:
            target = WebhookEndpoint.objects.for_tenant(row).filter(pk=endpoint).first()
            if target is None:
                raise CommandError(f"tenant {tenant!r} has no webhook endpoint {endpoint}")
        if rotate:
            secret = signing_secret_rotate(tenant=row, endpoint=target, grace=timedelta(hours=grace_hours))
            self.stdout.write(f"new secret (old ones valid for {grace_hours:g} h more):")
            self.stdout.write(secret)
            return
        secrets = signing_secrets_active(tenant=row, endpoint=target) if target else callback_secrets_ensure(tenant=row)
        for secret in secrets:
            self.stdout.write(secret)
