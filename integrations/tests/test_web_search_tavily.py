"""The Tavily provider through the real httpx client against a local fake of ``POST /search``:
request shape, hits with dates and URLs in the run's answer and sources, and every failure
(401, 429 with Retry-After, timeout, malformed JSON) as a clear error, never a 500."""

from __future__ import annotations

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agents.models import Run, RunStatus
from agents.services import run_create
from agents.tasks import execute_run
from integrations.models import ConnectorCredential
from integrations.services import credential_set
from integrations.web_search.client import WebSearchUnavailable, web_search
from tenants.context import tenant_context

API_KEY = "tvly-test-key-0123456789"
RESULTS = [
    {
        "title": "Acme Corporation announces Q2 results",
        "url": "https://news.example/acme-q2",
        "content": "Acme reported revenue growth.",
        "score": 0.91,
        "published_date": "Fri, 01 May 2026 09:30:00 GMT",
    },
    {
        "title": "Acme opens a Berlin office",
        "url": "https://press.example/acme-berlin",
        "content": "The office opens in June.",
        "score": 0.72,
        "published_date": "2026-04-20T08:00:00Z",
    },
    {"title": "Undated page", "url": "https://blog.example/acme", "content": "No date here.", "score": 0.5},
    {"title": "Not a web page", "url": "javascript:alert(1)", "content": "dropped", "score": 0.4},
]


class FakeTavily:
    """A loopback Tavily: ``replies`` is a list of (status, headers, body bytes, delay seconds)
    served in order (the last one repeats); ``seen`` records each request."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, dict, bytes, float]] = [(200, {}, json.dumps({"query": "q", "results": RESULTS}).encode(), 0.0)]
        self.seen: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fake.seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(self.rfile.read(length) or b"{}")})
                status, headers, body, delay = fake.replies[min(len(fake.seen) - 1, len(fake.replies) - 1)]
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and hung up

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def tavily():
    fake = FakeTavily()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _connect(world, fake: FakeTavily, **config) -> ConnectorCredential:
    return credential_set(
        tenant=world.tenant, kind="web_search",
        config={"provider": "tavily", "base_url": fake.url, "topic": "news", **config}, secrets={"api_key": API_KEY},
    )


def _ask(world, query: str) -> Run:
    run = run_create(tenant=world.tenant, channel="cli", query=query, enqueue=False)
    execute_run(run.pk)
    with tenant_context(world.tenant):
        return Run.objects.get(pk=run.pk)


def _credential(world) -> ConnectorCredential:
    return ConnectorCredential.objects.for_tenant(world.tenant).get(kind="web_search")


@pytest.mark.django_db
def test_a_tavily_search_posts_the_documented_body_and_returns_dated_hits(world_a, tavily):
    _connect(world_a, tavily, search_depth="advanced")
    with tenant_context(world_a.tenant):
        hits = web_search(query="Acme Corporation", count=3)
    assert tavily.seen == [{
        "path": "/search",
        "auth": f"Bearer {API_KEY}",
        "body": {"query": "Acme Corporation", "max_results": 3, "search_depth": "advanced", "topic": "news"},
    }]
    # The javascript: URL is dropped; dates as given by the fake, converted by hand to ISO dates.
    assert [(h.url, h.published, h.score) for h in hits] == [
        ("https://news.example/acme-q2", "2026-05-01", 0.91),
        ("https://press.example/acme-berlin", "2026-04-20", 0.72),
        ("https://blog.example/acme", "", 0.5),
    ]
    credential = _credential(world_a)
    assert credential.last_success_at is not None and credential.consecutive_failures == 0


@pytest.mark.django_db
def test_a_run_cites_the_pages_with_their_urls_and_dates(world_a, tavily):
    _connect(world_a, tavily)
    run = _ask(world_a, "Research Acme Corporation recent announcements")
    assert run.route == ["web_search"]
    body, _, sources = run.answer_markdown.partition("#### Sources")
    assert "[Acme Corporation announces Q2 results](https://news.example/acme-q2) (published 2026-05-01)" in body
    assert "[Undated page](https://blog.example/acme):" in body  # no date invented
    assert "https://news.example/acme-q2 (2026-05-01); https://press.example/acme-berlin (2026-04-20); https://blog.example/acme" in sources
    web = [c for c in run.citations if c["type"] == "web"]
    assert web[0]["pages"][0] == {"url": "https://news.example/acme-q2", "title": "Acme Corporation announces Q2 results", "published": "2026-05-01"}
    assert API_KEY not in json.dumps([s.input for s in run.steps.all()]) + json.dumps(run.citations) + run.answer_markdown


@pytest.mark.django_db
def test_a_refused_key_is_a_clear_error_on_the_run_and_the_connector(world_a, tavily):
    tavily.replies = [(401, {}, json.dumps({"detail": {"error": f"Unauthorized: missing or invalid API key {API_KEY}"}}).encode(), 0.0)]
    _connect(world_a, tavily)
    run = _ask(world_a, "Research Acme Corporation recent announcements")
    assert run.status == RunStatus.SUCCEEDED
    assert "I could not search the web: web search failed: Tavily refused the API key (HTTP 401)" in run.answer_markdown
    assert len(tavily.seen) == 1  # a refused key is not retried
    credential = _credential(world_a)
    assert credential.consecutive_failures == 1 and "HTTP 401" in credential.last_error and API_KEY not in credential.last_error


@pytest.mark.django_db
def test_a_long_retry_after_fails_at_once_and_says_when(world_a, tavily):
    tavily.replies = [(429, {"Retry-After": "120"}, b'{"detail": {"error": "rate limit"}}', 0.0)]
    _connect(world_a, tavily)
    with tenant_context(world_a.tenant), pytest.raises(WebSearchUnavailable, match=r"Tavily is rate limiting this key \(HTTP 429\); retry after 120 s"):
        web_search(query="acme")
    assert len(tavily.seen) == 1


@pytest.mark.django_db
def test_a_short_retry_after_is_waited_for_and_the_search_succeeds(world_a, tavily):
    ok = tavily.replies[0]
    tavily.replies = [(429, {"Retry-After": "0"}, b"{}", 0.0), ok]
    _connect(world_a, tavily)
    with tenant_context(world_a.tenant):
        hits = web_search(query="acme")
    assert len(tavily.seen) == 2 and hits[0].url == "https://news.example/acme-q2"


@pytest.mark.django_db
def test_a_429_storm_ends_in_a_clear_error_after_three_attempts(world_a, tavily):
    tavily.replies = [(429, {"Retry-After": "0"}, b"{}", 0.0)]
    _connect(world_a, tavily)
    run = _ask(world_a, "Research Acme Corporation recent announcements")
    assert "Tavily is rate limiting this key (HTTP 429) (3 attempts)" in run.answer_markdown
    assert len(tavily.seen) == 3


@pytest.mark.django_db
def test_a_timeout_is_a_clear_error(world_a, tavily):
    tavily.replies = [(200, {}, b'{"results": []}', 1.0)]
    _connect(world_a, tavily, timeout_seconds=0.2)
    run = _ask(world_a, "Research Acme Corporation recent announcements")
    assert run.status == RunStatus.SUCCEEDED
    assert "Tavily did not answer within 0.2 s (3 attempts)" in run.answer_markdown


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, message",
    [
        (b"<html>not json</html>", "Tavily answered with malformed JSON"),
        (b'{"results": "none"}', "Tavily answered without a results list"),
        (b"[1, 2]", "Tavily answered without a results list"),
    ],
)
def test_a_malformed_answer_is_a_clear_error_on_the_run(world_a, tavily, body, message):
    tavily.replies = [(200, {}, body, 0.0)]
    _connect(world_a, tavily)
    run = _ask(world_a, "Research Acme Corporation recent announcements")
    assert run.status == RunStatus.SUCCEEDED
    assert f"I could not search the web: web search failed: {message}" in run.answer_markdown
    assert _credential(world_a).consecutive_failures == 1


@pytest.mark.django_db
def test_the_tavily_base_url_passes_the_outbound_guard(world_a):
    credential_set(
        tenant=world_a.tenant, kind="web_search", config={"provider": "tavily", "base_url": "https://10.1.2.3/"}, secrets={"api_key": API_KEY}
    )
    with tenant_context(world_a.tenant), pytest.raises(WebSearchUnavailable, match="web search URL refused: .*non-public address"):
        web_search(query="acme")
    assert _credential(world_a).consecutive_failures == 0  # our guard, not the provider's failure


# --- configuration and the Brave provider's dates ------------------------------------------------


@pytest.mark.django_db
def test_the_provider_is_chosen_and_validated_in_connector_set_and_the_admin(client, world_a, tmp_path):
    from django.core.management import CommandError, call_command
    from django.urls import reverse

    key = tmp_path / "key"
    key.write_text(API_KEY)
    base = ["connector_set", "--tenant", world_a.tenant.slug, "--kind", "web_search", "--secret", f"api_key=@{key}"]
    call_command(*base, "--config-json", '{"provider": "tavily", "search_depth": "advanced", "topic": "news", "timeout_seconds": 5}', stdout=io.StringIO())
    assert _credential(world_a).config == {"provider": "tavily", "search_depth": "advanced", "topic": "news", "timeout_seconds": 5.0}
    for config, message in (('{"provider": "bing"}', "provider: Select a valid choice"), ('{"timeout_seconds": 0}', "timeout_seconds: Ensure this value is greater than or equal to 0.1")):
        with pytest.raises(CommandError, match=message):
            call_command(*base, "--config-json", config, stdout=io.StringIO())
    client.force_login(world_a.owner)
    form = client.get(reverse("admin:integrations_connectorcredential_add") + "?kind=web_search").content.decode()
    assert 'name="config_provider"' in form and '<option value="tavily">Tavily</option>' in form and 'name="config_topic"' in form


@pytest.mark.django_db
def test_brave_hits_carry_their_page_age_as_the_date(world_a):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"web": {"results": [
                {"title": "Dated", "url": "https://news.example/a", "description": "d", "page_age": "2026-03-02T11:00:00", "age": "March 2, 2026"},
                {"title": "Relative age only", "url": "https://news.example/b", "description": "r", "age": "2 days ago"},
            ]}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        credential_set(
            tenant=world_a.tenant, kind="web_search",
            config={"base_url": f"http://127.0.0.1:{server.server_address[1]}/res/v1/"}, secrets={"api_key": "brave-key-123456"},
        )
        with tenant_context(world_a.tenant):
            hits = web_search(query="acme")
    finally:
        server.shutdown()
        server.server_close()
    assert [(h.url, h.published) for h in hits] == [("https://news.example/a", "2026-03-02"), ("https://news.example/b", "")]


@pytest.mark.django_db
def test_test_connection_uses_the_configured_provider(client, world_a, world_b, tavily):
    from django.urls import reverse

    row = _connect(world_a, tavily)
    url = reverse("admin:integrations_connectorcredential_test", args=[row.pk])
    client.force_login(world_a.owner)
    texts = [str(m) for m in client.post(url, follow=True).context["messages"]]
    assert any("One query answered with 1 result(s)." in t for t in texts), texts
    assert tavily.seen[-1]["path"] == "/search" and tavily.seen[-1]["body"]["max_results"] == 1
    tavily.replies = [(401, {}, b'{"detail": {"error": "Unauthorized"}}', 0.0)]
    texts = [str(m) for m in client.post(url, follow=True).context["messages"]]
    assert any("Tavily refused the API key (HTTP 401)" in t for t in texts) and not any(API_KEY in t for t in texts)
    client.force_login(world_b.owner)
    assert client.post(url).status_code == 404  # another tenant's connector
