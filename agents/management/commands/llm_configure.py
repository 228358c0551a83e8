from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from integrations.models import ConnectorKind
from integrations.services import credential_set
from tenants.models import Tenant
from tenants.settings_schema import TenantSettingsInvalid, tenant_settings_set


class Command(BaseCommand):
    help = (
        "Switch a tenant's LLM provider: llm_configure --tenant SLUG --provider offline|bedrock|openai "
        "[--model M] [--region R] [--base-url URL] [--api-key-file F]. Takes effect on the next run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--provider", required=True, choices=["offline", "bedrock", "openai"])
        parser.add_argument("--model", help="Bedrock model id / inference profile, or the OpenAI-compatible model name")
        parser.add_argument("--region", help="AWS region for Bedrock (default us-east-1)")
        parser.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://localhost:11434/v1")
        parser.add_argument("--api-key-file", help="file holding the API key (never pass keys on the command line)")

    def handle(self, *args, **opts):
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        provider = opts["provider"]
        if provider == "openai":
            if not opts["model"]:
                raise CommandError("--model is required for the openai provider")
            secrets = {}
            if opts["api_key_file"]:
                secrets["api_key"] = Path(opts["api_key_file"]).read_text().strip()
            credential_set(tenant=tenant, kind=ConnectorKind.LLM, name="openai", config={"base_url": opts["base_url"] or "", "model": opts["model"]}, secrets=secrets)
        elif provider == "bedrock":
            config = {"region": opts["region"] or "us-east-1"}
            if opts["model"]:
                config["model_id"] = opts["model"]
            credential_set(tenant=tenant, kind=ConnectorKind.LLM, name="bedrock", config=config, secrets={})
        try:  # validated as a whole (tenants.settings_schema): a broken setting is named, not saved
            tenant_settings_set(tenant=tenant, changes={"llm_provider": provider})
        except TenantSettingsInvalid as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"tenant {tenant.slug} now answers with the {provider} provider")
