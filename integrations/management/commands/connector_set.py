"""manage.py connector_set: create or change a tenant's connector without the shell."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.connector_checks import slack_credential_hints
from integrations.crypto import SecretDecryptError
from integrations.forms import (
    SPECS,
    ConnectorSpec,
    check_secret_value,
    clean_config,
    missing_required_secrets,
    parse_config_json,
    secret_keys_after,
    spec_get,
    stored_secret_keys,
    validate_name,
)
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.rotation import DEFAULT_GRACE, RotationError, credential_previous_clear, credential_rotate
from integrations.services import credential_save
from tenants.models import Tenant

MAX_SECRET_BYTES = 64 * 1024


def resolve_spec(kind: str, name: str | None) -> tuple[ConnectorSpec, str]:
    """``--kind``/``--name`` -> (spec, name). ``llm`` takes its provider from ``--name``
    (``--kind llm --name openai`` equals ``--kind llm/openai``). Raises ``CommandError``."""
    if kind == ConnectorKind.LLM:
        if not name:
            raise CommandError("--kind llm needs --name openai|bedrock (or use --kind llm/openai)")
        kind = f"llm/{name}"
    try:
        spec = spec_get(kind)
    except KeyError as exc:
        raise CommandError(str(exc.args[0])) from None
    if spec.fixed_name and name not in (None, spec.fixed_name):
        raise CommandError(f"a {spec.key} connector is always named {spec.fixed_name!r}")
    try:
        return spec, spec.fixed_name or validate_name(name or "default")
    except ValidationError as exc:
        raise CommandError(f"--name: {exc.messages[0]}") from None


def _read_secret(arg: str, spec: ConnectorSpec, stdin_used: list[bool]) -> tuple[str, str]:
    """``KEY=@FILE`` or ``KEY=-`` -> (key, value stripped). Raises ``CommandError`` for an unknown
    key, a literal value (never echoed), an unreadable file, a second stdin or an oversize value."""
    key, sep, source = arg.partition("=")
    if not sep or not key:
        raise CommandError("--secret takes KEY=@FILE or KEY=- (read from stdin)")
    known = [s.key for s in spec.secrets]
    if key not in known:
        raise CommandError(f"--secret: {spec.key} has no secret {key!r}; known: {', '.join(known) or 'none'}")
    if source == "-":
        if stdin_used[0]:
            raise CommandError("only one --secret may be read from stdin")
        stdin_used[0] = True
        value = sys.stdin.read(MAX_SECRET_BYTES + 1)
    elif source.startswith("@") and len(source) > 1:
        path = Path(source[1:])
        try:
            value = path.read_text(encoding="utf-8")[: MAX_SECRET_BYTES + 1]
        except OSError as exc:
            raise CommandError(f"--secret {key}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"--secret {key}: {path} is not UTF-8 text") from None
    else:
        # The value is deliberately not echoed: it is a secret typed where it should not be.
        raise CommandError(
            f"--secret {key}: secrets are never taken from the command line (shell history, ps); "
            f"use {key}=@FILE or {key}=- and pipe it on stdin"
        )
    if len(value) > MAX_SECRET_BYTES:
        raise CommandError(f"--secret {key}: longer than {MAX_SECRET_BYTES} bytes")
    return key, value.strip()


class Command(BaseCommand):
    help = (
        "Create or change a tenant's connector: connector_set --tenant SLUG --kind KIND [--name NAME] "
        "[--config-json JSON] [--secret KEY=@FILE | KEY=-] ... [--remove-secret KEY] [--rotate [--grace-minutes N]]. Kinds: "
        + ", ".join(SPECS)
        + ". The config is validated per kind and replaces the stored one (omitted: kept). Secrets are read "
        "from a file or stdin only, never from an argument; keys not given keep their stored value. With --rotate "
        "the replaced secrets stay valid for --grace-minutes (default 60) where the provider allows two "
        "(Slack signing secret); a new secret without --rotate ends any earlier window at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--kind", required=True, help="one of: " + ", ".join(SPECS) + " (or llm with --name)")
        parser.add_argument("--name", help="credential name (default: 'default'; fixed for llm providers)")
        parser.add_argument("--config-json", help="the non-secret settings as a JSON object")
        parser.add_argument("--secret", action="append", default=[], metavar="KEY=@FILE|KEY=-", help="a secret from a file or stdin")
        parser.add_argument("--remove-secret", action="append", default=[], metavar="KEY", help="remove a stored secret")
        parser.add_argument("--rotate", action="store_true", help="keep the replaced secrets valid for the grace period")
        parser.add_argument(
            "--grace-minutes", type=int, default=None, metavar="N",
            help=f"with --rotate: minutes the replaced secrets stay valid (default {int(DEFAULT_GRACE.total_seconds() // 60)}, at most 10080)",
        )

    def handle(self, *args, **opts) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise CommandError(f"unknown tenant {opts['tenant']!r}")
        spec, name = resolve_spec(opts["kind"], opts["name"])
        known = {s.key: s for s in spec.secrets}
        updates: dict[str, str | None] = {}
        stdin_used = [False]
        for arg in opts["secret"]:
            key, value = _read_secret(arg, spec, stdin_used)
            try:
                check_secret_value(known[key], value)
            except ValidationError as exc:
                raise CommandError(f"--secret {key}: {exc.messages[0]}") from None
            if not value:
                raise CommandError(f"--secret {key}: the value is empty (use --remove-secret {key} to remove it)")
            updates[key] = value
        for key in opts["remove_secret"]:
            if key not in known:
                raise CommandError(f"--remove-secret: {spec.key} has no secret {key!r}")
            updates[key] = None

        existing = ConnectorCredential.objects.for_tenant(tenant).filter(kind=spec.kind, name=name).first()
        if opts["config_json"] is None:
            raw_config = existing.config if existing else {}
        else:
            try:
                raw_config = parse_config_json(opts["config_json"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        try:
            config = clean_config(spec, raw_config)
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in exc.message_dict.items())
            raise CommandError(f"invalid config for {spec.key}: {problems}") from None

        stored = stored_secret_keys(existing)
        if stored is None:
            raise CommandError("the stored secrets cannot be decrypted with the configured keys; restore the old key or delete the connector")
        after = secret_keys_after(stored=stored, updates=updates)
        missing = [s.key for s in missing_required_secrets(spec, stored=stored, updates=updates)]
        if missing:
            raise CommandError(f"{spec.key} needs the secret(s) {', '.join(missing)}: pass --secret {missing[0]}=@FILE")
        if opts["grace_minutes"] is not None and not opts["rotate"]:
            raise CommandError("--grace-minutes needs --rotate")
        try:
            if opts["rotate"]:
                grace = DEFAULT_GRACE if opts["grace_minutes"] is None else timedelta(minutes=opts["grace_minutes"])
                row = credential_rotate(tenant=tenant, kind=spec.kind, name=name, config=config, secret_updates=updates, grace=grace)
            else:
                row = credential_save(tenant=tenant, kind=spec.kind, name=name, config=config, secret_updates=updates)
                if any(updates.values()):
                    credential_previous_clear(tenant=tenant, credential_id=row.pk)
        except RotationError as exc:
            raise CommandError(f"--rotate: {exc}") from None
        except SecretDecryptError:
            raise CommandError("the stored secrets cannot be decrypted with the configured keys") from None
        state = ", ".join(f"{s.key} {'set' if s.key in after else 'not set'}" for s in spec.secrets) or "none"
        self.stdout.write(
            f"{'changed' if existing else 'created'} {spec.key} connector {name!r} for tenant {tenant.slug}: "
            f"config keys {', '.join(sorted(config)) or 'none'}; secrets: {state}"
        )
        if opts["rotate"] and row.previous_valid_until:
            self.stdout.write(f"rotated: the replaced secrets stay valid until {row.previous_valid_until.isoformat(timespec='seconds')}")
        if row.kind == ConnectorKind.SLACK:
            for hint in slack_credential_hints(credential=row):
                self.stdout.write(f"hint: {hint}")
        self.stdout.write(f"check it with: manage.py connector_test --tenant {tenant.slug} --kind {spec.key}" + ("" if spec.fixed_name else f" --name {name}"))
