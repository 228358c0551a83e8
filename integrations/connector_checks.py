"""The "Test connection" of connector credentials: one cheap, real call per kind.

- ``warehouse_postgres``: log in as the configured (reader) role and run ``SELECT 1`` within the
  warehouse timeouts; then check the schema exists and is readable, and warn when the role may
  write;
- ``warehouse_firebolt``: the agents' own connection through firebolt-sdk, ``SELECT 1`` and the
  schema's table count;
- ``slack``: ``auth.test`` with the bot token through slack-sdk (``settings.SLACK_API_URL``), plus
  what ``/slack/events/<slug>`` needs (:func:`slack_credential_hints`);
- ``salesforce``: the REST ``limits`` resource through simple-salesforce;
- ``gong``: one page of calls of the last day (``POST /v2/calls/extensive``) through the sync's
  own client (:class:`integrations.gong.client.GongClient`), two attempts at most;
- ``web_search``: one query to the configured provider (Brave or Tavily), as the agents search.

A check never raises for a failed connection and never returns a traceback: it returns a
:class:`CheckResult` with the reason in words. Every text it returns has the credential's secret
values masked, whatever a server or a library put in its error.
"""

from __future__ import annotations

import datetime as dt
import urllib.error
from dataclasses import dataclass, field

import psycopg
import requests
from django.conf import settings
from simple_salesforce.exceptions import SalesforceError
from slack_sdk.errors import SlackApiError

from revops.lib.urls import UnsafeURL

from integrations.outbound import outbound_allowlist_get, outbound_check
from integrations.crypto import SecretDecryptError
from integrations.forms import stored_secret_keys
from integrations.gong.client import DEFAULT_BASE_URL as GONG_BASE_URL
from integrations.gong.client import GongClient, GongError
from integrations.models import ConnectorCredential, ConnectorKind
from integrations.salesforce.auth import SalesforceAuthError, salesforce_oauth_from, salesforce_token_request
from integrations.salesforce.client import salesforce_client
from integrations.slack.client import slack_client
from integrations.warehouse.base import WarehouseError, WarehouseUnavailable
from integrations.warehouse.selectors import warehouse_from_credential, warehouse_location
from integrations.web_search.client import WebSearchUnavailable, web_search_with

TEST_QUERY = "RevOps AI connection test"


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a connection test: ``ok``, a one-line ``message`` (what worked, or why not) and
    ``hints`` (configuration advice that does not make the test fail)."""

    ok: bool
    message: str
    hints: tuple[str, ...] = field(default=())

    def text(self) -> str:
        """The message and hints as one paragraph."""
        return " ".join([self.message, *self.hints])


def _mask(text: str, secrets: dict) -> str:
    for value in secrets.values():
        if isinstance(value, str) and len(value) >= 4:
            text = text.replace(value, "[secret]")
    return text


def _url_refused(credential: ConnectorCredential, url: str) -> CheckResult | None:
    """The SSRF guard applied before any call to a configured URL: ``None`` when ``url`` may be
    called (public address, or inside the tenant's ``actions.outbound_allowlist``), else a
    failed :class:`CheckResult` saying why (the same rule as action delivery, DESIGN.md §5)."""
    try:
        outbound_check(url, allowlist=outbound_allowlist_get(tenant=credential.tenant))
    except UnsafeURL as exc:
        return CheckResult(False, f"URL refused: {exc}")
    return None


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


def connector_check(*, credential: ConnectorCredential) -> CheckResult:
    """Test ``credential`` (any tenant: the row is given explicitly). Never raises for a failed
    connection; returns a :class:`CheckResult` whose texts hold no secret value."""
    try:
        secrets = credential.secrets()
    except SecretDecryptError:
        return CheckResult(False, "The stored secrets cannot be decrypted with the configured keys; set them again.")
    config = credential.config or {}
    checks = {
        ConnectorKind.WAREHOUSE_POSTGRES: _check_warehouse,
        ConnectorKind.WAREHOUSE_FIREBOLT: _check_warehouse_engine,
        ConnectorKind.WAREHOUSE_DUCKDB: _check_warehouse_engine,
        ConnectorKind.SLACK: _check_slack,
        ConnectorKind.SALESFORCE: _check_salesforce,
        ConnectorKind.GONG: _check_gong,
        ConnectorKind.WEB_SEARCH: _check_web_search,
    }
    check = checks.get(credential.kind)
    if check is None:
        return CheckResult(False, f"There is no connection test for {credential.get_kind_display()} connectors yet.")
    try:
        result = check(credential, config, secrets)
    except Exception as exc:  # noqa: BLE001 - the admin shows a reason, never a trace
        result = CheckResult(False, f"The test failed unexpectedly ({type(exc).__name__}).")
    return CheckResult(result.ok, _mask(result.message, secrets), tuple(_mask(h, secrets) for h in result.hints))


def _check_warehouse(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    schema, user = str(config.get("schema") or ""), str(config.get("user") or "")
    if not schema or not user:
        return CheckResult(False, "The connector needs a schema and a user.")
    if warehouse_location(config) is None:
        return CheckResult(False, "The connector needs a host (or “use the app's database”).")
    warehouse = warehouse_from_credential(credential, secrets=secrets)  # the agents' own connection settings
    try:
        with warehouse.connect() as conn:
            conn.autocommit = True
            conn.execute(f"SET statement_timeout = {int(warehouse.statement_timeout_ms)}")
            conn.execute("SELECT 1").fetchone()
            exists, usable, can_create, superuser = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(s)s),"
                " CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(s)s) THEN has_schema_privilege(%(s)s, 'USAGE') END,"
                " CASE WHEN EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = %(s)s) THEN has_schema_privilege(%(s)s, 'CREATE') END,"
                " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)",
                {"s": schema},
            ).fetchone()
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", [schema]
            ).fetchone()[0]
    except WarehouseUnavailable as exc:
        return CheckResult(False, f"Cannot connect as {user}: {_first_line(exc, limit=400)}")
    except psycopg.OperationalError as exc:
        return CheckResult(False, f"Cannot connect as {user}: {_first_line(exc)}")
    except psycopg.Error as exc:
        return CheckResult(False, f"Connected as {user}, but the check query failed: {_first_line(exc)}")
    if not exists:
        return CheckResult(False, f"Connected as {user}, but schema {schema!r} does not exist.")
    if not usable:
        return CheckResult(False, f"Connected as {user}, but the role may not use schema {schema!r} (GRANT USAGE).")
    hints = []
    if superuser or can_create:
        hints.append(f"{user} may {'do anything' if superuser else 'create tables in ' + repr(schema)}: use a read-only role.")
    if not tables and credential.name != "insights_writer":
        hints.append(f"{user} can read no table in {schema!r} (GRANT SELECT).")
    return CheckResult(True, f"Connected as {user}: SELECT 1 answered; {tables} readable table(s) in {schema!r}.", tuple(hints))


def slack_credential_hints(*, credential: ConnectorCredential) -> list[str]:
    """What keeps ``/slack/events/<slug>`` from working with this ``slack`` credential, in words
    (empty when nothing is missing). Reads the secrets' presence, never shows their values."""
    hints = []
    stored = stored_secret_keys(credential)  # memoised on the row: no second decryption
    if stored is None:
        return ["The secrets cannot be decrypted: /slack/events answers 404 until they are set again."]
    slug = credential.tenant.slug
    if "signing_secret" not in stored:
        hints.append(f"No signing secret: /slack/events/{slug} answers 404 until one is stored.")
    if "bot_token" not in stored:
        hints.append("No bot token: questions are received but the bot cannot answer.")
    first = ConnectorCredential.objects.for_tenant(credential.tenant_id).filter(kind=ConnectorKind.SLACK).order_by("pk").first()
    if first is not None and first.pk != credential.pk:
        hints.append(f"Not used: /slack/events/{slug} reads the Slack connector {first.name!r}.")
    return hints


def _check_slack(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    hints = slack_credential_hints(credential=credential)
    token = str(secrets.get("bot_token") or "").strip()
    if not token:
        return CheckResult(False, "No bot token is stored, so auth.test cannot be called.", tuple(hints))
    try:
        answer = slack_client(token=token).auth_test()
    except SlackApiError as exc:
        code = str((exc.response.data or {}).get("error") if isinstance(exc.response.data, dict) else "") or "unknown error"
        return CheckResult(False, f"Slack refused auth.test: {code}.", tuple(hints))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return CheckResult(False, f"Cannot reach Slack at {settings.SLACK_API_URL}: {reason}.", tuple(hints))
    team, user = str(answer.get("team_id") or ""), str(answer.get("user_id") or "")
    if config.get("team_id") and team and config["team_id"] != team:
        hints.append(f"The token belongs to team {team}, not the configured {config['team_id']}: events will be ignored.")
    elif not config.get("team_id") and team:
        hints.append(f"Set the team id to {team} to ignore other workspaces.")
    if config.get("bot_user_id") and user and config["bot_user_id"] != user:
        hints.append(f"The bot user is {user}, not the configured {config['bot_user_id']}.")
    elif not config.get("bot_user_id") and user:
        hints.append(f"Set the bot user id to {user}.")
    return CheckResult(True, f"auth.test answered ok: team {team or '?'}, bot user {user or '?'}.", tuple(hints))


def _check_salesforce(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    """The REST ``limits`` resource with the stored access token. When there is none, or
    Salesforce answers 401 (an expired session), and the credential can renew (refresh token or
    JWT bearer, :func:`integrations.salesforce.auth.salesforce_oauth_from`), a new access token is
    requested once with the same grant the sync uses, and the call retried; the check does not
    store that token. Every URL called (the login host, and the instance URL Salesforce answers
    with) passes the SSRF guard first (a name check before the request: the request resolves the
    host again)."""
    try:
        oauth = salesforce_oauth_from(credential_id=credential.pk, config=config, secrets=secrets)
    except SalesforceAuthError as exc:
        return CheckResult(False, f"The connector is incomplete: {exc}.")
    renewable = oauth.flow in ("refresh_token", "jwt_bearer")
    token, instance_url, renewed = oauth.access_token, oauth.instance_url, False

    def renew() -> CheckResult | None:
        nonlocal token, instance_url, renewed
        refused = _url_refused(credential, oauth.login_url)
        if refused is not None:
            return refused
        try:
            token, instance_url = salesforce_token_request(oauth)
        except SalesforceAuthError as exc:
            return CheckResult(False, f"No new access token: {exc}.")
        renewed = True
        return None

    if not token or not instance_url:
        failed = renew()
        if failed is not None:
            return failed
    while True:
        refused = _url_refused(credential, instance_url)
        if refused is not None:
            return refused
        try:
            limits = salesforce_client(instance_url=instance_url, access_token=token, api_version=oauth.api_version).limits()
            break
        except SalesforceError as exc:
            if exc.status == 401 and renewable and not renewed:
                failed = renew()
                if failed is not None:
                    return failed
                continue
            content = exc.content if isinstance(exc.content, list) else []
            code = next((str(c.get("errorCode")) for c in content if isinstance(c, dict) and c.get("errorCode")), "")
            hint = " The access token was rejected and the connector has no refresh token or JWT key to renew it." if exc.status == 401 and not renewable else ""
            return CheckResult(False, f"Salesforce answered HTTP {exc.status}{': ' + code if code else ''}.{hint}")
        except requests.exceptions.SSLError:
            return CheckResult(False, f"TLS verification of {instance_url} failed.")
        except requests.RequestException as exc:
            return CheckResult(False, f"Cannot reach {instance_url} ({type(exc).__name__}).")
    how = f" (with a new access token from the {oauth.flow.replace('_', ' ')} grant)" if renewed else ""
    daily = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
    if isinstance(daily, dict) and "Remaining" in daily:
        return CheckResult(True, f"Salesforce answered{how}: {daily['Remaining']} of {daily.get('Max', '?')} daily API requests left.")
    return CheckResult(True, f"Salesforce answered the limits call{how}.")


#: Test connection of a Gong connector: attempts, per-request timeout and longest Retry-After wait
#: (seconds), kept short because an admin request waits for it.
GONG_CHECK_ATTEMPTS = 2
GONG_CHECK_TIMEOUT_SECONDS = 10.0
GONG_CHECK_MAX_WAIT_SECONDS = 2.0


def _check_gong(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    key, key_secret = str(secrets.get("access_key") or ""), str(secrets.get("access_key_secret") or "")
    if not key or not key_secret:
        return CheckResult(False, "The connector needs an access key and its secret.")
    base_url = str(config.get("base_url") or GONG_BASE_URL)
    refused = _url_refused(credential, base_url)
    if refused is not None:
        return refused
    try:
        timeout = min(max(float(config.get("timeout_seconds") or GONG_CHECK_TIMEOUT_SECONDS), 0.1), GONG_CHECK_TIMEOUT_SECONDS)
    except (TypeError, ValueError):
        timeout = GONG_CHECK_TIMEOUT_SECONDS
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    try:
        with GongClient(base_url=base_url, access_key=key, access_key_secret=key_secret, timeout=timeout,
                        max_retry_after=GONG_CHECK_MAX_WAIT_SECONDS, attempts=GONG_CHECK_ATTEMPTS) as client:
            calls, cursor = client.calls_page(from_datetime=since)
    except GongError as exc:
        return CheckResult(False, f"{_first_line(exc, limit=400)}.")
    more = " (more on further pages)" if cursor else ""
    return CheckResult(True, f"Gong answered the calls request: {len(calls)} call(s) in the last day{more}.")


def _check_web_search(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    if not str(secrets.get("api_key") or ""):
        return CheckResult(False, "No API key is stored.")
    try:  # the agents' own path: provider from the config, outbound guard, retries, health recorded
        hits = web_search_with(credential, query=TEST_QUERY, count=1)
    except WebSearchUnavailable as exc:
        return CheckResult(False, f"{exc}.")
    return CheckResult(True, f"One query answered with {len(hits)} result(s).")


def _check_warehouse_engine(credential: ConnectorCredential, config: dict, secrets: dict) -> CheckResult:
    """``warehouse_firebolt`` and ``warehouse_duckdb``: the agents' own connection (Firebolt: service
    account, engine, database; DuckDB: the tenant's file, read-only), ``SELECT 1`` and the schema's
    table count, within the warehouse timeouts (``WarehouseConnector.connection_test``)."""
    try:
        warehouse = warehouse_from_credential(credential, secrets=secrets)
        return CheckResult(True, f"Connected: {warehouse.connection_test()}.")
    except WarehouseError as exc:
        return CheckResult(False, _first_line(exc, limit=400))
