"""Which LLM provider answers for a tenant (``Tenant.settings["llm_provider"]``).

Kept apart from :mod:`agents.llm.base` (the provider protocol and message types) so that the
concrete providers, which import the protocol, and this chooser, which imports the providers,
form no import cycle.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from agents.llm.base import LLMProvider, OfflineProvider
from agents.llm.bedrock import BedrockProvider
from agents.llm.openai_compat import OpenAICompatProvider
from integrations.models import ConnectorCredential, ConnectorKind
from tenants.settings_schema import tenant_settings_section

PROVIDERS = ("offline", "bedrock", "openai")


def provider_for_tenant(tenant) -> LLMProvider:
    """The tenant's provider from ``tenant.settings["llm_provider"]`` (default ``offline``).

    ``bedrock`` and ``openai`` read their model and credentials from the tenant's ``llm``
    ConnectorCredential named after the provider (see README). Raises ImproperlyConfigured for
    an unknown provider or a missing credential, so a misconfigured tenant fails loudly instead
    of silently answering offline.
    """
    name = tenant_settings_section(tenant, "llm_provider")  # ImproperlyConfigured when unknown
    if name == "offline":
        return OfflineProvider()
    if name not in PROVIDERS:
        raise ImproperlyConfigured(f"unknown LLM provider {name!r}; choose one of {', '.join(PROVIDERS)}")
    cred = ConnectorCredential.objects.for_tenant(tenant).filter(kind=ConnectorKind.LLM, name=name).first()
    if name == "bedrock":
        return BedrockProvider.from_credential(cred)
    if cred is None:
        raise ImproperlyConfigured("the openai provider needs an 'llm' connector credential named 'openai' (base_url, model, api_key)")
    return OpenAICompatProvider.from_credential(cred)
