"""Per-kind connector forms: typed config fields and write-only secret fields.

One :class:`ConnectorSpec` per connector shape (``warehouse_postgres``, ``warehouse_firebolt``,
``slack``, ``web_search``, ``salesforce``, ``gong``, ``llm/openai``, ``llm/bedrock``) names its config fields (Django form fields, so
the admin and ``manage.py connector_set`` validate the same way) and its secrets. The config keys
are the ones the readers use: ``integrations.warehouse.selectors``, ``integrations.slack.selectors``,
``integrations.web_search.client``, ``integrations.salesforce.selectors``, ``integrations.gong.sync``,
``agents.llm``; ``sync_interval_minutes`` is read by ``integrations.tasks.connector_syncs_dispatch``.

Secrets are write-only: a secret input never renders a value (``PasswordInput(render_value=False)``),
its help text says only whether a value is stored ("set"/"not set"). Leaving it blank keeps the
stored value; changing a stored value needs the explicit "replace" box (so a browser's password
autofill cannot overwrite a secret by accident); "replace" with a blank input removes it.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from integrations.crypto import SecretDecryptError
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.tasks import SYNC_MIN_INTERVAL_MINUTES

SECRET_SET = "set"
SECRET_NOT_SET = "not set"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


@dataclass(frozen=True)
class SecretSpec:
    """One secret key of a connector: ``key`` as stored, ``label`` shown, ``required`` for the
    connector to work at all (saving without it is refused), ``help`` a short hint."""

    key: str
    label: str
    required: bool = False
    help: str = ""
    prefix: str = ""  # e.g. "xoxb-": a value not starting with it is refused


@dataclass(frozen=True)
class ConnectorSpec:
    """A connector shape. ``key`` is the kind, or ``llm/<name>`` for LLM providers (whose name
    is fixed: the provider reads the credential named ``openai`` or ``bedrock``).

    ``config_fields`` builds fresh form fields (a callable, as form fields are mutable);
    ``clean_config`` checks cross-field rules and may raise ``ValidationError``.
    """

    key: str
    kind: str
    label: str
    config_fields: Callable[[], dict[str, forms.Field]]
    secrets: tuple[SecretSpec, ...] = ()
    fixed_name: str | None = None
    description: str = ""
    clean_config: Callable[[dict[str, Any]], None] | None = field(default=None)


def _optional_url(label: str, help_text: str = "") -> forms.URLField:
    return forms.URLField(label=label, required=False, assume_scheme="https", help_text=help_text)


def _warehouse_fields() -> dict[str, forms.Field]:
    return {
        "use_app_database": forms.BooleanField(
            label="Use the app's database", required=False,
            help_text="Take host, port and database name from the application's own database (the demo setting).",
        ),
        "host": forms.CharField(label="Host", required=False, max_length=255, help_text="Host name, IP address or Unix socket directory."),
        "port": forms.IntegerField(label="Port", required=False, min_value=1, max_value=65535),
        "dbname": forms.CharField(label="Database name", required=False, max_length=63),
        "schema": forms.CharField(label="Schema", max_length=63, help_text="The schema holding the CRM tables."),
        "user": forms.CharField(label="User (read-only role)", max_length=63, help_text="A role that may only read the schema."),
        "table": forms.CharField(
            label="Insights table", required=False, max_length=63,
            help_text="Only for the credential named insights_writer: the table the agents may write to.",
        ),
    }


def _warehouse_clean(config: dict[str, Any]) -> None:
    if not config.get("use_app_database") and not config.get("host"):
        raise ValidationError({"host": "Give a host, or tick “Use the app's database”."})


def _firebolt_fields() -> dict[str, forms.Field]:
    # Read by integrations.warehouse.selectors.firebolt_from_credential.
    name = RegexValidator(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", "Letters, digits, _ . and - only.")
    return {
        "account_name": forms.CharField(label="Account name", max_length=255, validators=[name]),
        "engine_name": forms.CharField(label="Engine name", max_length=255, validators=[name], help_text="The engine that runs the agents' queries."),
        "database": forms.CharField(label="Database", max_length=255, validators=[name]),
        "schema": forms.CharField(
            label="Schema", required=False, max_length=255,
            validators=[RegexValidator(r"^[A-Za-z_][A-Za-z0-9_$]*$", "An identifier, e.g. public.")], help_text="Blank: public.",
        ),
        "api_endpoint": _optional_url("API endpoint", "Blank: https://api.app.firebolt.io."),
    }


def _firebolt_clean(config: dict[str, Any]) -> None:
    endpoint = str(config.get("api_endpoint") or "")
    if endpoint.startswith("http://") and not re.match(r"^http://(localhost|[a-z0-9.-]+\.localhost|127\.0\.0\.1)(:\d+)?(/|$)", endpoint):
        raise ValidationError({"api_endpoint": "Firebolt is reached over https only (http only to a loopback test server)."})


def _slack_fields() -> dict[str, forms.Field]:
    return {
        "team_id": forms.CharField(
            label="Team (workspace) id", required=False, max_length=32,
            validators=[RegexValidator(r"^[TE][A-Z0-9]+$", "A Slack team id looks like T0123ABCD.")],
            help_text="Events from other workspaces are ignored when set. “Test connection” shows it.",
        ),
        "bot_user_id": forms.CharField(
            label="Bot user id", required=False, max_length=32,
            validators=[RegexValidator(r"^[UW][A-Z0-9]+$", "A Slack user id looks like U0123ABCD.")],
            help_text="The bot's own user id (its messages are ignored). “Test connection” shows it.",
        ),
    }


def _web_search_fields() -> dict[str, forms.Field]:
    # Read by integrations.web_search.client (provider, base_url, timeout_seconds) and .tavily.
    return {
        "provider": forms.ChoiceField(
            label="Provider", required=False, choices=[("", "Brave Search (default)"), ("brave", "Brave Search"), ("tavily", "Tavily")],
        ),
        "base_url": _optional_url(
            "API base URL", "Blank: the provider's own (Brave https://api.search.brave.com/res/v1/, Tavily https://api.tavily.com/)."
        ),
        "search_depth": forms.ChoiceField(
            label="Search depth (Tavily)", required=False, choices=[("", "basic (default)"), ("basic", "basic"), ("advanced", "advanced")],
            help_text="Tavily only: advanced costs 2 credits a search.",
        ),
        "topic": forms.ChoiceField(
            label="Topic (Tavily)", required=False, choices=[("", "general (default)"), ("general", "general"), ("news", "news")],
            help_text="Tavily only: news results carry their publication dates.",
        ),
        "timeout_seconds": forms.FloatField(label="Timeout (seconds)", required=False, min_value=0.1, max_value=60, help_text="Per request; blank: 10."),
    }


def _sync_interval_field(source: str) -> forms.IntegerField:
    # Read by integrations.tasks.connector_syncs_dispatch (an integer; its floor is 15 minutes).
    return forms.IntegerField(
        label="Sync every (minutes)", required=False, min_value=SYNC_MIN_INTERVAL_MINUTES, max_value=7 * 24 * 60,
        help_text=f"Blank: no scheduled {source} sync (run it with the command). At least {SYNC_MIN_INTERVAL_MINUTES}.",
    )


def _salesforce_fields() -> dict[str, forms.Field]:
    # Read by integrations.salesforce.auth.salesforce_oauth_get and the sync (timeout_seconds).
    return {
        "instance_url": forms.URLField(label="Instance URL", assume_scheme="https", help_text="https://<my-domain>.my.salesforce.com"),
        "api_version": forms.CharField(
            label="API version", required=False, max_length=8,
            validators=[RegexValidator(r"^\d{2,3}\.\d$", "An API version looks like 59.0.")], help_text="Blank: 59.0",
        ),
        "login_url": _optional_url("Login URL", "OAuth token endpoint host. Blank: https://login.salesforce.com (sandboxes: https://test.salesforce.com)."),
        "client_id": forms.CharField(label="Connected app client id", required=False, max_length=255, help_text="For the refresh-token and JWT bearer flows."),
        "username": forms.CharField(label="Username (JWT bearer)", required=False, max_length=255),
        "timeout_seconds": forms.FloatField(label="Timeout (seconds)", required=False, min_value=0.1, max_value=120, help_text="Per request; blank: 15."),
        "sync_interval_minutes": _sync_interval_field("Salesforce"),
    }


def _salesforce_clean(config: dict[str, Any]) -> None:
    for key in ("instance_url", "login_url"):
        if str(config.get(key) or "").startswith("http://"):
            raise ValidationError({key: "Salesforce is reached over https only."})


def _gong_fields() -> dict[str, forms.Field]:
    # Read by integrations.gong.sync (base_url, from_date, timeout_seconds, max_retry_after_seconds)
    # and integrations.tasks.connector_syncs_dispatch (sync_interval_minutes).
    return {
        "base_url": _optional_url("API base URL", "Your company's API base URL (Gong → Company settings → API). Blank: https://api.gong.io."),
        "from_date": forms.CharField(
            label="First sync from", required=False, max_length=10,
            validators=[RegexValidator(r"^\d{4}-\d{2}-\d{2}$", "A date looks like 2025-01-31.")],
            help_text="YYYY-MM-DD: calls started on or after it are read by the first sync. Blank: the last 365 days.",
        ),
        "timeout_seconds": forms.FloatField(label="Timeout (seconds)", required=False, min_value=0.1, max_value=120, help_text="Per request; blank: 15."),
        "sync_interval_minutes": _sync_interval_field("Gong"),
    }


def _gong_clean(config: dict[str, Any]) -> None:
    base = str(config.get("base_url") or "")
    if base.startswith("http://") and not re.match(r"^http://(localhost|[a-z0-9.-]+\.localhost|127\.0\.0\.1)(:\d+)?(/|$)", base):
        raise ValidationError({"base_url": "Gong is reached over https only (http only to a loopback test server)."})
    if config.get("from_date"):
        try:
            dt.date.fromisoformat(str(config["from_date"]))
        except ValueError:
            raise ValidationError({"from_date": "Not a calendar date."}) from None


def _openai_fields() -> dict[str, forms.Field]:
    return {
        "base_url": _optional_url("Base URL", "Any OpenAI-compatible endpoint, e.g. http://localhost:11434/v1. Blank: api.openai.com."),
        "model": forms.CharField(label="Model", max_length=200),
        "max_retries": forms.IntegerField(label="Max retries", required=False, min_value=0, max_value=10),
    }


def _bedrock_fields() -> dict[str, forms.Field]:
    return {
        "region": forms.CharField(
            label="AWS region", required=False, max_length=32,
            validators=[RegexValidator(r"^[a-z]{2}(-[a-z]+)+-\d$", "An AWS region looks like us-east-1.")], help_text="Blank: us-east-1",
        ),
        "model_id": forms.CharField(label="Model id / inference profile", required=False, max_length=200),
    }


SPECS: dict[str, ConnectorSpec] = {
    spec.key: spec
    for spec in (
        ConnectorSpec(
            "warehouse_postgres", ConnectorKind.WAREHOUSE_POSTGRES, "Warehouse (PostgreSQL)", _warehouse_fields,
            (SecretSpec("password", "Password", help="The read-only role's password (blank under trust authentication)."),),
            description="The agents read the credential named “default”; “insights_writer” is the insights table.",
            clean_config=_warehouse_clean,
        ),
        ConnectorSpec(
            "warehouse_firebolt", ConnectorKind.WAREHOUSE_FIREBOLT, "Warehouse (Firebolt)", _firebolt_fields,
            (
                SecretSpec("client_id", "Service account client id", required=True, help="Firebolt workspace → Configure → Service accounts."),
                SecretSpec("client_secret", "Service account client secret", required=True),
            ),
            description="The agents read the credential named “default”; give the service account read-only access.",
            clean_config=_firebolt_clean,
        ),
        ConnectorSpec(
            "slack", ConnectorKind.SLACK, "Slack app", _slack_fields,
            (
                SecretSpec("signing_secret", "Signing secret", required=True, help="Basic Information → App Credentials → Signing Secret."),
                SecretSpec("bot_token", "Bot token", help="OAuth & Permissions → Bot User OAuth Token (xoxb-…).", prefix="xoxb-"),
            ),
            description="Print the app manifest with manage.py slack_manifest --tenant SLUG --host HOST.",
        ),
        ConnectorSpec(
            "web_search", ConnectorKind.WEB_SEARCH, "Web search (Brave Search or Tavily)", _web_search_fields,
            (SecretSpec("api_key", "API key", required=True),),
        ),
        ConnectorSpec(
            "salesforce", ConnectorKind.SALESFORCE, "Salesforce", _salesforce_fields,
            (
                SecretSpec("access_token", "Access token", help="An OAuth access token (session id); the sync renews it with the refresh token or JWT."),
                SecretSpec("refresh_token", "Refresh token", help="Refresh-token flow (with the client id)."),
                SecretSpec("client_secret", "Connected app client secret", help="Refresh-token flow, when the connected app requires it."),
                SecretSpec("private_key", "JWT private key (PEM)", help="JWT bearer flow (with the client id and username)."),
            ),
            description="Give an access token, a refresh token with the client id, or a JWT private key with the client id and username.",
            clean_config=_salesforce_clean,
        ),
        ConnectorSpec(
            "gong", ConnectorKind.GONG, "Gong", _gong_fields,
            (
                SecretSpec("access_key", "Access key", required=True, help="Gong → Company settings → Ecosystem → API → Create."),
                SecretSpec("access_key_secret", "Access key secret", required=True),
            ),
            description="Calls and transcripts are synced into the tenant's warehouse schema (manage.py gong_sync, or on a schedule).",
            clean_config=_gong_clean,
        ),
        ConnectorSpec(
            "llm/openai", ConnectorKind.LLM, "LLM: OpenAI-compatible", _openai_fields,
            (SecretSpec("api_key", "API key", help="Blank for local servers that need none."),),
            fixed_name="openai",
        ),
        ConnectorSpec(
            "llm/bedrock", ConnectorKind.LLM, "LLM: Amazon Bedrock", _bedrock_fields,
            (
                SecretSpec("aws_access_key_id", "AWS access key id", help="Blank: the default AWS credential chain (role, environment)."),
                SecretSpec("aws_secret_access_key", "AWS secret access key"),
                SecretSpec("aws_session_token", "AWS session token"),
            ),
            fixed_name="bedrock",
        ),
    )
}


def spec_for(*, kind: str, name: str) -> ConnectorSpec | None:
    """The spec of a stored credential (``llm`` credentials by name), or None (e.g. ``warehouse_duckdb``)."""
    if kind == ConnectorKind.LLM:
        return SPECS.get(f"llm/{name}")
    return SPECS.get(kind)


def spec_get(key: str) -> ConnectorSpec:
    """The spec for ``key`` (``slack``, ``llm/openai``...). Raises ``KeyError`` listing the known keys."""
    try:
        return SPECS[key]
    except KeyError:
        raise KeyError(f"unknown connector kind {key!r}; one of: {', '.join(SPECS)}") from None


def stored_secret_keys(credential: ConnectorCredential | None) -> set[str] | None:
    """Keys of the secrets stored on ``credential`` with a non-empty value; None when they cannot
    be decrypted (a key was rotated away). Values are never returned.

    Memoised on the instance for its current ``secret_token`` (a change page asks for the keys
    from the form class, the form, the secret status and the Slack hints: one decryption); the
    memo holds key names only and is recomputed once the token changes (a save, a refresh)."""
    if credential is None or not credential.pk:
        return set()
    memo = getattr(credential, "_stored_secret_keys_memo", None)
    if memo is not None and memo[0] == credential.secret_token:
        return None if memo[1] is None else set(memo[1])
    try:
        keys: frozenset[str] | None = frozenset(k for k, v in credential.secrets().items() if v)
    except SecretDecryptError:
        keys = None
    credential._stored_secret_keys_memo = (credential.secret_token, keys)
    return None if keys is None else set(keys)


def validate_name(name: str) -> str:
    """A credential name: lower-case letters, digits, ``-`` and ``_``, up to 100 characters."""
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise ValidationError("Use lower-case letters, digits, - and _ (e.g. default).")
    return name


def _kept(value: Any) -> bool:
    """Whether a cleaned config value is stored: empty optional values are dropped, ``0`` is kept
    (``max_retries: 0``)."""
    return not (value is None or value is False or value == "")


def check_spec_config(spec: ConnectorSpec, config: dict[str, Any]) -> dict[str, list[str]]:
    """The spec-level rules over an already field-cleaned ``config`` (e.g. "a host, or the app's
    database"): a dict of config key (or ``__all__``) -> messages, empty when it passes."""
    if not spec.clean_config:
        return {}
    try:
        spec.clean_config(config)
    except ValidationError as exc:
        return {key: list(messages) for key, messages in exc.message_dict.items()}
    return {}


def clean_config(spec: ConnectorSpec, data: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a raw config mapping (``--config-json``) against ``spec``; returns the config to
    store (empty optional values dropped). Raises ``ValidationError`` (a dict of field ->
    messages) for unknown keys, missing required values and bad types. The admin form cleans
    its ``config_*`` fields itself and runs only :func:`check_spec_config`."""
    fields = spec.config_fields()
    unknown = sorted(set(data) - set(fields))
    errors: dict[str, list[str]] = {}
    if unknown:
        errors["__all__"] = [f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(fields)}"]
    config: dict[str, Any] = {}
    for key, form_field in fields.items():
        raw = data.get(key)
        if isinstance(form_field, forms.BooleanField) and isinstance(raw, str):
            raw = raw.strip().lower() in {"1", "true", "yes", "on"}
        try:
            value = form_field.clean(raw)
        except ValidationError as exc:
            errors[key] = list(exc.messages)
            continue
        if _kept(value):
            config[key] = value
    if not errors:
        errors.update(check_spec_config(spec, config))
    if errors:
        raise ValidationError(errors)
    return config


def missing_required_secrets(spec: ConnectorSpec, *, stored: set[str], updates: Mapping[str, str | None]) -> list[SecretSpec]:
    """The required secrets of ``spec`` that would be absent after applying ``updates`` (key ->
    new value, or None to remove) to the ``stored`` secret keys; the one rule shared by the admin
    form and ``manage.py connector_set``."""
    after = secret_keys_after(stored=stored, updates=updates)
    return [s for s in spec.secrets if s.required and s.key not in after]


def secret_keys_after(*, stored: set[str], updates: Mapping[str, str | None]) -> set[str]:
    """The secret keys set once ``updates`` (key -> value, or None to remove) apply to ``stored``."""
    return (stored | {k for k, v in updates.items() if v}) - {k for k, v in updates.items() if v is None}


def check_secret_value(secret: SecretSpec, value: str) -> None:
    """Refuse a secret value of the wrong shape (e.g. a Slack token without ``xoxb-``)."""
    if secret.prefix and value and not value.startswith(secret.prefix):
        raise ValidationError(f"{secret.label} should start with {secret.prefix}")


class ConnectorForm(forms.ModelForm):
    """Base of the per-kind admin forms built by :func:`connector_form_class`.

    After ``is_valid()``: ``cleaned_config`` is the config to store and ``secret_updates`` maps
    secret keys to a new value (replace) or None (remove); keys absent keep the stored value.
    """

    spec: ConnectorSpec  # set by connector_form_class
    cleaned_config: dict[str, Any]
    secret_updates: dict[str, str | None]

    class Meta:
        model = ConnectorCredential
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance if self.instance.pk else None
        for key, value in (instance.config if instance else {}).items():
            if f"config_{key}" in self.fields:
                self.initial[f"config_{key}"] = value
        stored = stored_secret_keys(instance)
        self._undecryptable = stored is None
        self._stored = stored or set()
        if "name" in self.fields and self.spec.fixed_name:
            del self.fields["name"]

    def clean_name(self) -> str:
        return validate_name(self.cleaned_data.get("name", ""))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self._undecryptable:
            self.add_error(None, "The stored secrets cannot be decrypted with the configured keys: restore the old key, or delete this connector and add it again.")
        # The config_* fields were cleaned by the form already: only the spec-level rules remain,
        # and only when every field passed (else the field errors say enough).
        keys = list(self.spec.config_fields())
        self.cleaned_config = {k: cleaned[f"config_{k}"] for k in keys if f"config_{k}" in cleaned and _kept(cleaned[f"config_{k}"])}
        if not any(f"config_{k}" in self.errors for k in keys):
            for key, messages in check_spec_config(self.spec, self.cleaned_config).items():
                target = f"config_{key}" if f"config_{key}" in self.fields else None
                for message in messages:
                    self.add_error(target, message)
        self.secret_updates = {}
        for secret in self.spec.secrets:
            value = cleaned.get(f"secret_{secret.key}") or ""
            replace = bool(cleaned.get(f"replace_{secret.key}"))
            is_stored = secret.key in self._stored
            if value:
                try:
                    check_secret_value(secret, value)
                except ValidationError as exc:
                    self.add_error(f"secret_{secret.key}", exc)
                    continue
                if is_stored and not replace:
                    self.add_error(f"secret_{secret.key}", f"A {secret.label.lower()} is stored already: tick “replace” to overwrite it.")
                    continue
                self.secret_updates[secret.key] = value
            elif is_stored and replace:
                self.secret_updates[secret.key] = None
        for secret in missing_required_secrets(self.spec, stored=self._stored, updates=self.secret_updates):
            if f"secret_{secret.key}" in self.errors:
                continue  # its value was refused above: one message is enough
            if secret.key in self._stored:
                self.add_error(f"secret_{secret.key}", f"The {secret.label.lower()} is required; type the new value.")
            else:
                self.add_error(f"secret_{secret.key}", f"The {secret.label.lower()} is required.")
        self._check_unique(cleaned)
        return cleaned

    def _check_unique(self, cleaned: dict[str, Any]) -> None:
        # kind is not a form field, so Django skips the (tenant, kind, name) constraint: check it
        # here for a form error instead of an IntegrityError.
        tenant = cleaned.get("tenant") or (self.instance.tenant if self.instance.pk else None)
        name = self.spec.fixed_name or cleaned.get("name") or (self.instance.name if self.instance.pk else None)
        if tenant is None or not name:
            return
        clash = ConnectorCredential.objects.for_tenant(tenant).filter(kind=self.spec.kind, name=name)
        if self.instance.pk:
            clash = clash.exclude(pk=self.instance.pk)
        if clash.exists():
            self.add_error("name" if "name" in self.fields else None, f"This tenant already has a {self.spec.label} connector named {name!r}.")


def _secret_fields(spec: ConnectorSpec, stored: set[str] | None) -> dict[str, forms.Field]:
    fields: dict[str, forms.Field] = {}
    for secret in spec.secrets:
        if stored is None:
            state = "cannot be decrypted with the current keys"
        else:
            state = SECRET_SET if secret.key in stored else SECRET_NOT_SET
        help_text = f"Stored: {state}." + (f" {secret.help}" if secret.help else "")
        if stored and secret.key in stored:
            help_text += " Leave blank to keep it; tick “replace” to change or remove it."
        fields[f"secret_{secret.key}"] = forms.CharField(
            label=secret.label + (" (required)" if secret.required else ""),
            required=False,
            strip=True,
            help_text=help_text,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "size": 60}),
        )
        if stored and secret.key in stored:
            fields[f"replace_{secret.key}"] = forms.BooleanField(
                label=f"Replace secret: {secret.label.lower()}",
                required=False,
                help_text="Tick to store the value typed above (blank: remove the stored value).",
            )
    return fields


def connector_form_class(
    spec: ConnectorSpec, *, with_tenant: bool, instance: ConnectorCredential | None = None
) -> type[ConnectorForm]:
    """A ModelForm class for ``spec`` (and the stored ``instance`` it will edit, whose stored
    secret keys decide the help texts and the "replace" boxes): ``tenant`` (on add) and ``name``
    (unless the spec fixes it) from the model, then ``config_<key>``, ``secret_<key>`` and
    ``replace_<key>`` fields."""
    model_fields = (["tenant"] if with_tenant else []) + ([] if spec.fixed_name else ["name"])
    meta = type("Meta", (ConnectorForm.Meta,), {"fields": model_fields})
    declared: dict[str, Any] = {f"config_{key}": f for key, f in spec.config_fields().items()}
    declared.update(_secret_fields(spec, stored_secret_keys(instance)))
    return type(f"{spec.key.replace('/', '_').title()}ConnectorForm", (ConnectorForm,), {"Meta": meta, "spec": spec, **declared})


def parse_config_json(text: str) -> dict[str, Any]:
    """``--config-json`` text -> dict. Raises ``ValueError`` with a readable message."""
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config-json is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(value, dict):
        raise ValueError("--config-json must be a JSON object, e.g. '{\"schema\": \"crm\"}'")
    return value
