"""The editor's flow in a real browser (headless Chromium through Selenium) against a live server:
log in, create a document, see it indexed, test retrieval, edit it, restore the old version; then
another tenant's editor cannot see it.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` (Debian packages ``chromium`` and
``chromium-driver``; ``.ci/run`` installs them). Selenium Manager is bypassed (nothing is
downloaded). Set ``KB_BROWSER_SCREENSHOTS=<dir>`` to keep a screenshot of each step.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from knowledge.models import KnowledgeDocument

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)),
        reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
    ),
]

BODY_V1 = """---
rule_set: deal_risks
thresholds:
  ghosted_days: 21
---
# Ghosting rules

## Ghosted deals

A deal is ghosted when the buyer has not replied for 21 days after a scheduled meeting.
"""


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def _left_the_page(element):
    """A wait condition: ``element`` no longer belongs to the current document (the click loaded a
    new page). Selenium's ``staleness_of`` expects a StaleElementReferenceException; Chromium's
    driver sometimes answers a node of the unloading document with a generic "Node with given id
    does not belong to the document" error instead, which means the same."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    def gone(_driver) -> bool:
        try:
            element.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    return gone


class Editor:
    """The steps a person takes, with a screenshot after each when asked."""

    def __init__(self, driver, base_url: str) -> None:
        self.driver, self.base_url = driver, base_url
        self.shots = Path(os.environ["KB_BROWSER_SCREENSHOTS"]) if os.environ.get("KB_BROWSER_SCREENSHOTS") else None
        self.step = 0

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def click(self, css: str | None = None, *, link: str | None = None) -> None:
        """Click an element that loads a new page, and wait for that page."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        element = self.driver.find_element(By.PARTIAL_LINK_TEXT, link) if link else self.find(css)
        element.click()
        WebDriverWait(self.driver, 15).until(_left_the_page(element))

    def type(self, css: str, text: str, *, clear: bool = True) -> None:
        field = self.find(css)
        if clear:
            field.clear()
        field.send_keys(text)

    def page(self) -> str:
        return self.find("body").text

    def shot(self, name: str) -> None:
        self.step += 1
        if self.shots:
            self.shots.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(self.shots / f"{self.step:02d}-{name}.png"))

    def log_in(self, username: str) -> None:
        self.open("/admin/login/")
        self.type("#id_username", username)
        self.type("#id_password", "pw-for-tests-only")
        self.click("input[type=submit]")
        assert "Site administration" in self.page() or "Knowledge" in self.page()

    def log_out(self) -> None:
        self.click("#logout-form button")


def test_editor_flow_in_headless_chromium(browser, live_server, world_a, world_b):
    from selenium.webdriver.support.ui import Select

    me = Editor(browser, live_server.url)
    me.log_in(world_a.editor.username)

    # Create a document (the tenant is preselected: the editor has one tenant).
    me.open("/admin/knowledge/knowledgedocument/")
    me.shot("changelist-empty")
    me.click(".object-tools a.addlink")
    me.shot("add-form")
    Select(me.find("#id_kind")).select_by_value("business_logic")
    me.type("#id_title", "Ghosting rules")
    me.type("#id_tags", "deals, risk")
    me.find("#id_body").send_keys(BODY_V1)
    me.shot("add")
    me.click("input[name=_save]")
    assert "was added successfully" in me.page()
    me.shot("list")

    # It is indexed (the list says so) and the change page shows chunks and a preview.
    status = me.find("tr .kb-index-status")
    assert status.get_attribute("data-status") == "indexed", status.text
    me.click(link="Ghosting rules")
    assert "chunks (hashing-384)" in me.page() and "Ghosted deals" in me.find(".kb-preview").text

    # Test retrieval finds it, with its heading path and a score.
    me.click(".object-tools a.kb-test-retrieval")
    me.type("#id_query", "when is a deal ghosted")
    me.click("input[name=search]")
    first = me.find("#kb-retrieval-results tbody tr")
    assert "Ghosting rules" in first.find_element("css selector", ".kb-doc").text
    assert first.find_element("css selector", ".kb-heading").text == "Ghosting rules > Ghosted deals"
    assert float(first.find_element("css selector", ".kb-score").text) > 0
    me.shot("retrieval")

    # Edit: 21 days becomes 30.
    document = KnowledgeDocument.objects.unscoped().get(title="Ghosting rules")
    me.open(f"/admin/knowledge/knowledgedocument/{document.pk}/change/")
    body = me.find("#id_body")
    new_body = BODY_V1.replace("21", "30")
    browser.execute_script("arguments[0].value = arguments[1];", body, new_body)
    me.click("input[name=_save]")
    assert "was changed successfully" in me.page()
    document.refresh_from_db()
    assert document.version == 2 and "30 days" in document.body

    # Restore version 1 from the version history, after looking at the diff.
    me.open(f"/admin/knowledge/knowledgedocument/{document.pk}/change/")
    me.click("a.kb-versions")
    me.click("a.kb-diff-current")
    assert me.find("#kb-diff table.diff")
    me.shot("diff")
    me.click("input.kb-restore")
    assert "Restored v1" in me.page()
    me.shot("restored")
    document.refresh_from_db()
    # The form strips the trailing newline; line endings are stored as \n whatever the browser sends.
    assert (document.version, document.body, document.index_status) == (3, BODY_V1.rstrip("\n"), "indexed")
    assert "21 days" in me.find(".kb-preview").text

    # Another tenant's editor sees nothing of it.
    me.log_out()
    me.log_in(world_b.editor.username)
    me.open("/admin/knowledge/knowledgedocument/")
    assert "Ghosting rules" not in me.page()
    me.open(f"/admin/knowledge/knowledgedocument/{document.pk}/change/")
    assert "Not Found" in me.page() or "404" in browser.title
    me.open("/admin/knowledge/knowledgedocument/test-retrieval/?query=ghosted&k=5&mode=hybrid")
    assert "Ghosting rules" not in me.page()
    me.shot("other-tenant")
