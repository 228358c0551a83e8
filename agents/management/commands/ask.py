import datetime as dt
import json

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from agents.models import Channel, Run
from agents.serializers import RunStepSerializer
from agents.services import run_claim, run_create, run_execute
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(BaseCommand):
    help = 'Ask the agents a question in-process: ask --tenant SLUG [--as-of YYYY-MM-DD] [--json] "question"'

    def add_arguments(self, parser):
        parser.add_argument("question")
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--as-of", help="as-of date YYYY-MM-DD (default: the tenant's)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        try:
            as_of = dt.date.fromisoformat(opts["as_of"]) if opts["as_of"] else None
        except ValueError as exc:
            raise CommandError(f"--as-of must be YYYY-MM-DD: {exc}") from exc
        with transaction.atomic():
            try:
                run = run_create(tenant=tenant, channel=Channel.CLI, query=opts["question"], as_of=as_of, enqueue=False)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            run_claim(run_id=run.pk)
        with tenant_context(tenant):
            run = run_execute(run=Run.objects.get(pk=run.pk))
            if opts["json"]:
                out = {
                    "run_id": str(run.tracking_id),
                    "status": run.status,
                    "route": run.route,
                    "answer": run.answer_markdown,
                    "citations": run.citations,
                    "steps": RunStepSerializer(run.steps.all(), many=True).data,
                }
                self.stdout.write(json.dumps(out, default=str))
            else:
                self.stdout.write(run.answer_markdown)
                if run.error:
                    self.stderr.write(f"error: {run.error}")
