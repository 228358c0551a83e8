"""The editor's admin flows in headless Chromium against the production-style server: `manage.py
serve` (gunicorn, whitenoise, DEBUG off) on a free loopback port, against this test's database.

As a tenant owner: the admin's CSS loads (and applies); a web search connector is created through
its typed form with a secret that is never shown back; "Test connection" runs one query against a
loopback Brave-shaped fake; the tenant settings form refuses typos and names the fields; a CRM
update proposed by the execution agent is approved from the actions admin and runs against the
fake Salesforce; the run's page shows the rendered answer. Another tenant's owner gets 404 for
all of these pages.

The server runs without a worker: its gunicorn process needs no Salesforce CA bundle, and the
test process plays the worker for the one approved action (``actions.tasks.execute_action``, as
django-q2 would call it), with the fake Salesforce's self-signed certificate trusted through
``settings.SALESFORCE_CA_BUNDLE``.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian's ``chromium`` and
``chromium-driver``); skipped with the reason otherwise. Every wait is bounded. Set
``KB_BROWSER_SCREENSHOTS=<dir>`` to keep a screenshot of each step.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.db import connection

from actions.models import Action, ActionStatus
from actions.tasks import execute_action
from agents.models import Run, RunStatus
from agents.services import run_create
from agents.tasks import execute_run
from integrations.models import ConnectorCredential
from integrations.tests.test_connectors_admin import fake_search  # noqa: F401  (fixture: loopback Brave-shaped search API)
from knowledge.tests.test_browser import CHROMEDRIVER, CHROMIUM, Editor, browser  # noqa: F401  (fixture: headless Chromium)
from revops.tests.fixtures.salesforce import OPP_ID
from revops.tests.test_serving import _serve, _stop, _wait
from tenants.models import Tenant

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the server process must see the rows the test commits
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
        reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
    ),
]

SEARCH_KEY = "good-key-123456"  # the key fake_search accepts


@pytest.fixture
def server(transactional_db, tmp_path_factory, monkeypatch) -> Iterator[str]:
    """``manage.py serve --no-worker`` on a free loopback port (static files collected into an
    empty STATIC_ROOT, as on a fresh clone); its base URL. Stopped before the database is flushed.
    Plain http to loopback is allowed (ALLOW_HTTP_LOOPBACK_CALLBACKS, as in development): the
    fake search API is plain http and "Test connection" passes the outbound guard."""
    monkeypatch.setenv("ALLOW_HTTP_LOOPBACK_CALLBACKS", "1")
    proc, base = _serve(tmp_path_factory.mktemp("static"), "--no-worker", database=connection.settings_dict["NAME"])
    try:
        _wait(proc, f"{base}/healthz", seconds=90)
        yield base
    finally:
        _stop(proc, signal.SIGTERM)


@pytest.fixture
def owners(settings, world_a, world_b):
    """The two owners' passwords hashed with PBKDF2, which the server's settings know (the test
    settings hash with MD5 for speed, a hasher the production settings do not list)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher", *settings.PASSWORD_HASHERS]
    for user in (world_a.owner, world_b.owner):
        user.set_password("pw-for-tests-only")
        user.save(update_fields=["password"])
    return world_a.owner, world_b.owner


class Owner(Editor):
    """:class:`knowledge.tests.test_browser.Editor` with bounded waits and the admin's messages."""

    def __init__(self, driver, base_url: str) -> None:
        super().__init__(driver, base_url)
        driver.set_page_load_timeout(30)
        driver.set_script_timeout(10)

    def log_in(self, username: str) -> None:
        self.open("/admin/login/")
        self.type("#id_username", username)
        self.type("#id_password", "pw-for-tests-only")
        self.click("input[type=submit]")
        assert self.driver.find_elements("css selector", "#user-tools"), f"not logged in as {username}: {self.page()[:500]}"

    def messages(self, level: str = "") -> list[str]:
        from selenium.webdriver.common.by import By

        css = f".messagelist li.{level}" if level else ".messagelist li"
        return [m.text for m in self.driver.find_elements(By.CSS_SELECTOR, css)]

    def field_errors(self, name: str) -> str:
        """The error list shown on the admin form row of field ``name`` ("" when none)."""
        from selenium.webdriver.common.by import By

        rows = self.driver.find_elements(By.CSS_SELECTOR, f".field-{name} .errorlist")
        return " ".join(r.text for r in rows)


def _assert_styled(me: Owner, base: str) -> None:
    """Every stylesheet the page links is served (200, text/css) by our server, and the browser
    applied it (the header has the admin's background colour, not the default transparent)."""
    hrefs = me.driver.execute_script("return Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => l.href)")
    assert any("/static/admin/css/base." in h for h in hrefs), hrefs
    for href in hrefs:
        assert href.startswith(base + "/static/"), href  # nothing from elsewhere
        response = httpx.get(href, timeout=10)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/css"), (href, response.status_code)
    rules = dict(me.driver.execute_script("return Array.from(document.styleSheets).filter(s => s.href).map(s => [s.href, s.cssRules.length])"))
    assert all(rules.get(h, 0) > 0 for h in hrefs), rules  # each linked sheet parsed, with rules
    header_bg = me.driver.execute_script("return getComputedStyle(document.querySelector('#header')).backgroundColor")
    assert header_bg not in ("", "transparent", "rgba(0, 0, 0, 0)"), header_bg


def test_owner_walks_the_admin_in_headless_chromium(browser, server, owners, world_a, world_b, fake_search, salesforce_a):  # noqa: F811
    base = server
    tenant = world_a.tenant
    css = httpx.get(f"{base}/static/admin/css/base.css", timeout=10)
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")

    me = Owner(browser, base)
    me.open("/admin/login/")
    _assert_styled(me, base)
    me.log_in(world_a.owner.username)
    _assert_styled(me, base)
    me.shot("index")

    # --- a web search connector through its typed form; the secret is never shown back ---------
    search_url, seen = fake_search
    me.open("/admin/integrations/connectorcredential/add/")
    me.click(link="Web search")
    me.shot("connector-form")
    assert me.find("#id_secret_api_key").get_attribute("type") == "password"
    tenant_select = browser.find_elements("css selector", "select#id_tenant")
    if tenant_select:  # one tenant: preselected, or chosen here
        from selenium.webdriver.support.ui import Select

        Select(tenant_select[0]).select_by_value(str(tenant.pk))
    me.type("#id_config_base_url", search_url)
    me.type("#id_secret_api_key", SEARCH_KEY)
    me.click("input[name=_continue]")
    assert any("was added successfully" in m for m in me.messages("success")), me.page()
    row = ConnectorCredential.objects.unscoped().get(tenant=tenant, kind="web_search")
    assert row.secrets() == {"api_key": SEARCH_KEY} and row.config == {"base_url": search_url}
    assert SEARCH_KEY not in browser.page_source
    assert me.find("#id_secret_api_key").get_attribute("value") == ""
    assert "API key: set" in me.page()
    me.shot("connector-saved")

    # --- "Test connection": one query against the fake --------------------------------------------
    me.click("#test-connection")
    assert any("One query answered with 1 result(s)." in m for m in me.messages("success")), me.page()
    assert [s["token"] for s in seen] == [SEARCH_KEY]
    assert SEARCH_KEY not in browser.page_source
    connector_page = browser.current_url
    me.shot("connector-tested")

    # --- tenant settings: typos refused on their fields, nothing saved -------------------------------
    before = Tenant.objects.get(pk=tenant.pk).settings
    me.open(f"/admin/tenants/tenant/{tenant.pk}/change/")
    # A stale or forged choice ("offlin") cannot be picked from the list, so it is added to it.
    browser.execute_script(
        "const s = document.querySelector('#id_llm_provider'); s.add(new Option('offlin', 'offlin')); s.value = 'offlin';"
    )
    me.find("#id_actions__outbound_allowlist").send_keys("\n10.1.0.0/166")
    me.click("input[name=_save]")
    me.shot("settings-refused")
    assert "Please correct the errors below." in me.page() or "Please correct the error below." in me.page()
    assert "offlin is not one of the available choices" in me.field_errors("llm_provider"), me.page()
    assert "is not a network" in me.field_errors("actions__outbound_allowlist"), me.page()
    assert Tenant.objects.get(pk=tenant.pk).settings == before

    # --- a CRM update proposed by the execution agent, approved in the actions admin ---------------
    run = run_create(tenant=tenant, channel="api", query=f"Update opp {OPP_ID}: set the stage to Negotiation/Review", enqueue=False)
    execute_run(run.pk)
    run = Run.objects.unscoped().get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    action = Action.objects.unscoped().get(run=run)
    assert action.kind == "crm_update" and action.status == ActionStatus.PROPOSED
    me.open(f"/admin/actions/action/{action.pk}/change/")
    assert "Approval needed" in me.page() and "StageName" in me.find(".revops-decision pre").text
    me.shot("action-proposed")
    me.click("input[name=approve]")
    assert any(f"Action {action.pk} approved and queued for execution." in m for m in me.messages("success")), me.page()
    action.refresh_from_db()
    assert action.status == ActionStatus.QUEUED and action.approved_by == world_a.owner and action.approved_via == "admin:acme-a-owner"
    assert execute_action(action.pk) == ActionStatus.SUCCEEDED  # the worker's part
    assert salesforce_a.records[("Opportunity", OPP_ID)]["StageName"] == "Negotiation/Review"
    me.open(f"/admin/actions/action/{action.pk}/change/")
    assert "Approval needed" not in me.page() and me.find(".field-status .readonly").text == "Succeeded"
    me.shot("action-succeeded")

    # --- the run's page: the rendered answer, not markdown or JSON ----------------------------------
    run_page = f"/admin/agents/run/{run.pk}/change/"
    me.open(run_page)
    answer = me.find(".revops-answer")
    assert answer.find_element("css selector", "h3").text == "Actions"
    assert answer.find_element("css selector", "strong").text == f"Action {action.pk}"
    assert "###" not in answer.text and "**" not in answer.text
    assert "Timeline" in me.page() and "action_propose" in me.page()
    source = browser.page_source
    for raw in ('"action_id"', "&quot;action_id&quot;", '"input_tokens"', "{&quot;"):
        assert raw not in source, raw
    me.shot("run-page")

    # --- another tenant's owner: 404 for every page above -----------------------------------------
    me.click("#logout-form button")
    me.log_in(world_b.owner.username)
    for path in (connector_page.removeprefix(base), f"/admin/tenants/tenant/{tenant.pk}/change/", f"/admin/actions/action/{action.pk}/change/", run_page):
        me.open(path)
        assert "Not Found" in me.page(), (path, me.page()[:300])
        assert httpx.get(base + path, cookies={c["name"]: c["value"] for c in browser.get_cookies()}, timeout=10).status_code == 404, path
    me.shot("other-tenant")
