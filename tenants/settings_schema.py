"""The typed shape of ``Tenant.settings`` (DESIGN.md §3.8: structured settings are pydantic
models validated at the edge).

``Tenant.settings`` stays a JSON column; this module says what may be in it::

    {
      "as_of_date": "2025-06-30",          # pins the as-of date of runs (ISO date); absent: today
      "llm_provider": "offline",           # offline | bedrock | openai
      "budgets": {"max_handoffs": 3, "max_tool_calls": 8, "max_tokens": 40000},
      "actions": {                         # see actions.selectors.ActionPolicy
        "auto_approve": ["slack_notify", "webhook"],
        "approver_roles": ["owner", "admin", "editor"],
        "approval_channel": "C0APPROVE", "default_channel": "C0REVOPS",
        "slack_users": {"Moses Frase": "U123"},
        "outbound_allowlist": ["10.1.0.0/16"]
      },
      "slack": {"members_only": false}
    }

Writing is strict. Writers (the tenant admin form, ``tenant_settings``, ``llm_configure``,
``tenant_create``) call :func:`tenant_settings_validate` and refuse what it refuses, with the
field's dotted path (``actions.auto_approve: Input should be a valid list``); they edit documents
with the dotted-path helpers :func:`settings_path_get` and :func:`settings_apply`. The model
itself refuses an invalid document too (:func:`validate_tenant_settings` is the ``settings``
field's validator, so ``full_clean`` reports it, and ``Tenant.save`` runs it), so no ORM writer
can store one.

Reading has one entry point and one error policy: :func:`tenant_config` returns the whole
document parsed once (a :class:`TenantSettings`, cached on the tenant instance until its
``settings`` change). A stored document that does not validate can only come from a row written
around the model (``QuerySet.update``, SQL) or from an in-memory assignment; for those, whatever
does not validate is dropped at the smallest level that holds it, its default applies, and a
warning naming the tenant and the dotted path is logged (restrictions such as
``slack.members_only`` fail closed). A broken ``actions`` block therefore never stops runs, and
no reader crashes on a stored typo. The one exception is declared in the schema
(``refuse_when_invalid``): an unreadable pinned ``as_of_date`` would silently move every figure
to today, so reading it (:func:`tenant_settings_section`) raises :class:`TenantSettingsInvalid`
naming it. :func:`tenant_settings_section` is otherwise ``getattr`` on that object.

The defaults are the models' field defaults, nowhere else. Unknown keys are refused (a typo such
as ``llm_provder`` would otherwise be silently ignored). Booleans and integers are strict:
``"yes"`` is not ``true`` and ``"8"`` is not ``8``.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import json
import logging
from typing import Annotated, Any, Literal

from django.core.exceptions import ImproperlyConfigured, ValidationError as DjangoValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

logger = logging.getLogger(__name__)

LLM_PROVIDERS = ("offline", "bedrock", "openai")
# actions.models.ActionKind values; tenants sits below actions, so they are spelled here (a test
# checks the two agree).
ACTION_KINDS = ("webhook", "slack_notify", "crm_update", "warehouse_write")
ROLES = ("owner", "admin", "editor", "viewer")

LLMProvider = Literal["offline", "bedrock", "openai"]
ActionKindName = Literal["webhook", "slack_notify", "crm_update", "warehouse_write"]
RoleName = Literal["owner", "admin", "editor", "viewer"]


def _network(item: str) -> str:
    try:
        ipaddress.ip_network(item, strict=False)
    except ValueError:
        raise ValueError(f"{item!r} is not a network (e.g. 10.1.0.0/16)") from None
    return item


Network = Annotated[StrictStr, AfterValidator(_network)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BudgetSettings(_Section):
    """Per-run limits (``agents.runtime.loop.Budgets``): positive integers."""

    max_handoffs: StrictInt = Field(3, ge=1, le=20, description="Specialists the supervisor may hand a question to.")
    max_tool_calls: StrictInt = Field(8, ge=1, le=100, description="Tool calls per specialist loop.")
    max_tokens: StrictInt = Field(40_000, ge=1, le=2_000_000, description="LLM tokens (input + output) per run.")


class ActionSettings(_Section):
    """The tenant's action policy (``actions.selectors.ActionPolicy`` documents each key).
    An absent list (or ``null``) means the default below, an empty list means "none"."""

    auto_approve: list[ActionKindName] = Field(
        default_factory=lambda: ["slack_notify", "webhook"], description="Action kinds that run without a human."
    )
    approver_roles: list[RoleName] = Field(
        default_factory=lambda: ["owner", "admin", "editor"], description="Membership roles that may approve in Slack."
    )
    approval_channel: StrictStr = Field("", max_length=32, description="Slack channel id for approval prompts of non-Slack runs.")
    default_channel: StrictStr = Field("", max_length=32, description="Slack channel for notifications without a better destination.")
    slack_users: dict[StrictStr, StrictStr] = Field(default_factory=dict, description="CRM owner name -> Slack member id.")
    outbound_allowlist: list[Network] = Field(default_factory=list, description="CIDR networks outbound calls may reach although private.")

    @field_validator("auto_approve", "approver_roles", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        # Stored documents may say ``null`` for "the default" (the schema allowed it).
        return cls.model_fields[info.field_name].default_factory() if value is None else value


class SlackSettings(_Section):
    """Slack options of the tenant."""

    members_only: StrictBool = Field(
        False,
        description="Ignore askers without a Membership (Slack user id recorded).",
        # A restriction: an unreadable stored value keeps it on rather than opening the bot to everyone.
        json_schema_extra={"fail_closed": True},
    )


class TenantSettings(_Section):
    """All of ``Tenant.settings``; every key optional (defaults as documented in the module)."""

    as_of_date: dt.date | None = Field(
        None,
        description="Pins the as-of date of runs (ISO date, e.g. 2025-06-30).",
        # Today instead of an unreadable pinned date would change every figure of a run silently.
        json_schema_extra={"refuse_when_invalid": True},
    )
    llm_provider: LLMProvider = Field("offline", description="offline, bedrock or openai.")
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    actions: ActionSettings = Field(default_factory=ActionSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)

    @field_validator("as_of_date", mode="before")
    @classmethod
    def _iso_date_only(cls, value: Any) -> Any:
        # JSON holds dates as ISO strings; refuse numbers (pydantic would read 20250630 as a Unix time).
        if value is not None and not isinstance(value, (str, dt.date)):
            raise ValueError("must be an ISO date such as 2025-06-30")
        return value


SECTIONS: dict[str, type[BaseModel]] = {"budgets": BudgetSettings, "actions": ActionSettings, "slack": SlackSettings}


class TenantSettingsInvalid(ImproperlyConfigured, ValueError):
    """``Tenant.settings`` (or one section of it) does not match :class:`TenantSettings`.

    ``errors`` maps a dotted field path (``"actions.auto_approve"``, ``"llm_provider"``;
    ``""`` for the whole document) to its messages; ``str()`` is one readable line. It is both
    an ``ImproperlyConfigured`` (what runtime readers have always raised) and a ``ValueError``.
    """

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"tenant setting {k or '(settings)'}: {', '.join(v)}" for k, v in errors.items()))


def _errors(exc: ValidationError, prefix: str = "") -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
        path = ".".join(p for p in (prefix, path) if p)
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown setting"
        elif err["type"] == "literal_error":
            message = f"{message} (got {err['input']!r})"
        out.setdefault(path, []).append(message.removeprefix("Value error, "))
    return out


def tenant_settings_validate(raw: Any) -> TenantSettings:
    """Parse a whole settings document (a dict, as stored). Raises :class:`TenantSettingsInvalid`
    with every problem by dotted path."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise TenantSettingsInvalid({"": ["must be a JSON object"]})
    try:
        return TenantSettings.model_validate(raw)
    except ValidationError as exc:
        raise TenantSettingsInvalid(_errors(exc)) from None


def validate_tenant_settings(raw: Any) -> None:
    """The ``Tenant.settings`` field validator (and ``Tenant.save``'s check): raises
    ``django.core.exceptions.ValidationError`` with one ``"<dotted.path>: <problem>"`` message per
    problem (``"llm_provider: Input should be 'offline', 'bedrock' or 'openai' (got 'offlin')"``,
    ``"llm_provder: unknown setting"``) when ``raw`` is not a valid settings document."""
    try:
        tenant_settings_validate(raw)
    except TenantSettingsInvalid as exc:
        raise DjangoValidationError(settings_error_messages(exc)) from None


def settings_error_messages(exc: TenantSettingsInvalid) -> list[str]:
    """``exc``'s problems as ``"<dotted.path>: <problem>"`` lines (``(settings)`` for the whole
    document), the form every writer shows."""
    return [f"{path or '(settings)'}: {message}" for path, messages in exc.errors.items() for message in messages]


_CACHE_ATTR = "_tenant_config_cache"


def tenant_config(tenant: Any) -> TenantSettings:
    """The parsed settings of ``tenant`` (a ``Tenant``, saved or not): the one way to read them.

    Parsed once and cached on the instance, keyed by the JSON of ``tenant.settings`` (assigning
    or mutating ``settings`` re-parses). Error policy (module doc): never raises for a stored
    value; invalid parts are dropped to their defaults with a logged warning, restrictions fail
    closed.
    """
    raw = getattr(tenant, "settings", None) or {}
    try:
        key = json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError):
        key = repr(raw)
    return _config_entry(tenant, raw, key)[0]


def _config_entry(tenant: Any, raw: Any, key: str) -> tuple[TenantSettings, dict[str, list[str]]]:
    """``(parsed, refused)``: ``refused`` maps each ``refuse_when_invalid`` setting that did not
    validate to its errors (dotted paths)."""
    cached = getattr(tenant, "__dict__", {}).get(_CACHE_ATTR)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    refused: dict[str, list[str]] = {}
    try:
        parsed = tenant_settings_validate(raw)
    except TenantSettingsInvalid as exc:
        for path, messages in exc.errors.items():
            field = TenantSettings.model_fields.get(path.split(".")[0])
            if field is not None and (field.json_schema_extra or {}).get("refuse_when_invalid"):
                refused[path] = messages
        parsed = _parse_leniently(tenant, raw)
    if hasattr(tenant, "__dict__"):
        tenant.__dict__[_CACHE_ATTR] = (key, parsed, refused)
    return parsed, refused


def tenant_settings_section(tenant: Any, name: str) -> Any:
    """One parsed top-level setting of ``tenant``: ``"as_of_date"`` (date or None),
    ``"llm_provider"`` (str), or a section model (``"budgets"``, ``"actions"``, ``"slack"``);
    ``getattr(tenant_config(tenant), name)``. ``KeyError`` for a name that is not a setting;
    :class:`TenantSettingsInvalid` (an ``ImproperlyConfigured`` and ``ValueError``) naming the
    setting when it is marked ``refuse_when_invalid`` (``as_of_date``) and does not validate."""
    if name not in TenantSettings.model_fields:
        raise KeyError(name)
    raw = getattr(tenant, "settings", None) or {}
    try:
        key = json.dumps(raw, sort_keys=True, default=str)
    except (TypeError, ValueError):
        key = repr(raw)
    parsed, refused = _config_entry(tenant, raw, key)
    mine = {path: messages for path, messages in refused.items() if path.split(".")[0] == name}
    if mine:
        raise TenantSettingsInvalid(mine)
    return getattr(parsed, name)


# The name the action policy and Slack readers import; the policy is the same one now.
tenant_settings_section_lenient = tenant_settings_section


def _parse_leniently(tenant: Any, raw: Any) -> TenantSettings:
    slug = getattr(tenant, "slug", "?")
    if not isinstance(raw, dict):
        logger.warning("tenant %s: settings must be a JSON object; using the defaults", slug)
        return TenantSettings()
    unknown = sorted(k for k in raw if k not in TenantSettings.model_fields)
    if unknown:
        logger.warning("tenant %s: ignoring unknown settings %s", slug, ", ".join(map(str, unknown)))
    values = {name: _section_leniently(slug, raw, name) for name in TenantSettings.model_fields if name in raw}
    return TenantSettings.model_construct(_fields_set=set(values), **{**dict(TenantSettings()), **values})


def _section_leniently(slug: str, raw: dict, name: str) -> Any:
    """One top-level setting of ``raw``, invalid parts dropped (module doc: the error policy)."""
    value = copy.deepcopy(raw.get(name))
    for _ in range(20):  # each pass drops at least one offending item; bounded all the same
        try:
            parsed = TenantSettings.model_validate({name: value} if value is not None else {})
            return getattr(parsed, name)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        logger.warning(
            "tenant %s: ignoring invalid settings %s; the defaults apply",
            slug,
            ", ".join(sorted({".".join(str(p) for p in e["loc"]) for e in errors})),
        )
        locs = [tuple(p for p in e["loc"] if not str(p).startswith("function-"))[1:] for e in errors]
        if not isinstance(value, dict) or any(not loc for loc in locs):
            value = None  # the section itself is malformed
            continue
        section = TenantSettings.model_fields[name].annotation
        fields = getattr(section, "model_fields", {})
        # Deepest first, highest list index first, so earlier removals do not shift later ones.
        for loc in sorted(locs, key=lambda loc: (len(loc), loc[-1] if isinstance(loc[-1], int) else -1), reverse=True):
            field = fields.get(loc[0]) if len(loc) == 1 else None
            if field is not None and (field.json_schema_extra or {}).get("fail_closed"):
                value[loc[0]] = True  # a bad value of a restriction keeps the restriction
            else:
                _drop(value, loc)
    return getattr(TenantSettings(), name)


def _drop(document: Any, loc: tuple) -> None:
    """Remove the item at ``loc`` (keys and list indexes) from ``document``; where the path stops
    early, remove the deepest container entry that exists."""
    node = document
    for depth, part in enumerate(loc):
        last = depth == len(loc) - 1
        if isinstance(node, dict) and part in node:
            if last:
                del node[part]
                return
            child = node[part]
            if not isinstance(child, (dict, list)):
                del node[part]
                return
            node = child
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            if last or not isinstance(node[part], (dict, list)):
                del node[part]
                return
            node = node[part]
        else:
            return


def tenant_settings_dump(parsed: TenantSettings) -> dict:
    """The JSON to store: only the keys that were given, so absent keys keep their defaults."""
    return parsed.model_dump(mode="json", exclude_unset=True)


def settings_path_get(document: Any, path: str) -> tuple[bool, Any]:
    """``(found, value)`` at the dotted ``path`` of a settings document (``"budgets.max_tokens"``);
    ``(False, None)`` when any part is missing or not an object."""
    node: Any = document
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def settings_apply(document: Any, *, changes: dict[str, Any], unset: tuple[str, ...] = ()) -> dict:
    """A new settings document: a deep copy of ``document`` with the ``unset`` dotted paths removed
    and ``changes`` (``{"dotted.path": value}``) set, intermediate objects created (a non-object
    in the way is replaced), and emptied sections dropped. Not validated; ``document`` is not
    changed. A non-dict ``document`` counts as empty."""
    out: dict = copy.deepcopy(document) if isinstance(document, dict) else {}
    for path in unset:
        *parents, leaf = path.split(".")
        found, node = settings_path_get(out, ".".join(parents)) if parents else (True, out)
        if found and isinstance(node, dict):
            node.pop(leaf, None)
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = out
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return {k: v for k, v in out.items() if v != {}}


def tenant_settings_set(*, tenant: Any, changes: dict[str, Any], unset: tuple[str, ...] = ()) -> dict:
    """Merge ``changes`` (``{"dotted.path": value}``, e.g. ``{"llm_provider": "bedrock",
    "budgets.max_tool_calls": 4}``) into ``tenant.settings``, drop the ``unset`` paths
    (:func:`settings_apply`), validate the whole document and save it
    (``update_fields=["settings"]``). Returns the stored dict.

    Raises :class:`TenantSettingsInvalid` (nothing saved) with the offending dotted paths.
    """
    document = settings_apply(getattr(tenant, "settings", None), changes=changes, unset=unset)
    tenant_settings_validate(document)
    tenant.settings = document
    tenant.save(update_fields=["settings"])
    return document
