"""Local fakes for hermetic action tests (DESIGN.md §3.9): a webhook receiver that checks
Standard Webhooks signatures like a real consumer would, and a Salesforce REST API over HTTPS
(simple-salesforce only speaks https) with a self-signed certificate for 127.0.0.1.

Both are ``ThreadingHTTPServer``s on 127.0.0.1 with free ports; nothing of ours is patched.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Delivery:
    """One request as the receiver saw it: lower-cased headers, raw body, arrival (monotonic)."""

    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool
    at: float

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """A consumer endpoint. ``statuses``: the status of each next request (then 200);
    ``headers_for``: extra response headers by status (e.g. ``{429: {"Retry-After": "120"}}``).

    It verifies every request with ``standardwebhooks.Webhook(secret).verify`` and applies the
    side effect once per ``webhook-id`` (``effects``), as the spec tells consumers to. With
    ``hold_first`` set it records the first request, then blocks it until ``release`` is set.
    """

    secret: str = ""
    statuses: list[int] = field(default_factory=list)
    headers_for: dict[int, dict[str, str]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    effects: dict[str, dict] = field(default_factory=dict)
    hold_first: bool = False
    got_first: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    path: str = "/hook"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def successes(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.status < 300]

    def _handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        verified = False
        if self.secret:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except WebhookVerificationError:
                verified = False
        with self._lock:
            first = not self.deliveries
            status = self.statuses.pop(0) if self.statuses else 200
            self.deliveries.append(Delivery(headers, body, status, verified, time.monotonic()))
            if verified and 200 <= status < 300:
                self.effects.setdefault(headers.get("webhook-id", ""), json.loads(body))
        if first and self.hold_first:
            self.got_first.set()
            self.release.wait(timeout=30)
        return status, self.headers_for.get(status, {})


def _receiver_handler(state: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, extra = state._handle({k.lower(): v for k, v in self.headers.items()}, body)
            try:
                self.send_response(status)
                for key, value in extra.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            except OSError:  # the client went away (a killed worker)
                pass

        def log_message(self, *args):
            pass

    return Handler


class Servers:
    """Starts servers and shuts them all down at the end of a test."""

    def __init__(self):
        self._servers: list[ThreadingHTTPServer] = []

    def start(self, handler: type[BaseHTTPRequestHandler], *, tls: ssl.SSLContext | None = None) -> int:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._servers.append(server)
        return server.server_address[1]

    def receiver(self, **kwargs) -> WebhookReceiver:
        state = WebhookReceiver(**kwargs)
        state.port = self.start(_receiver_handler(state))
        return state

    def close(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()


# --- Salesforce -----------------------------------------------------------------------------------


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (IP SAN) and its key, as PEM files in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-salesforce.test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fake-sf.pem", directory / "fake-sf.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


_LIMITS = re.compile(r"^/services/data/v[\d.]+/limits/?$")
_SOBJECT = re.compile(r"^/services/data/v(?P<version>[\d.]+)/sobjects/(?P<object>\w+)/(?P<id>\w+)$")


@dataclass
class FakeSalesforce:
    """Salesforce REST: ``GET``/``PATCH /services/data/vXX.X/sobjects/<Object>/<id>`` and
    ``GET /services/data/vXX.X/limits/`` (answers ``limits``).

    ``records`` maps ``(object, id)`` to field values; ``token`` is the only accepted bearer
    token (else 401 ``INVALID_SESSION_ID``); ``statuses`` forces the status of the next
    requests (e.g. ``[503]``); ``requests`` records ``(method, path, body)``.
    """

    token: str
    records: dict[tuple[str, str], dict] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[str, str, dict | None]] = field(default_factory=list)
    limits: dict = field(default_factory=lambda: {"DailyApiRequests": {"Max": 15000, "Remaining": 14990}})
    port: int = 0
    ca_path: str = ""

    @property
    def instance_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def patches(self) -> list[tuple[str, str, dict | None]]:
        return [r for r in self.requests if r[0] == "PATCH"]


def _salesforce_handler(state: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body=None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            state.requests.append((method, self.path, body))
            if self.headers.get("Authorization") != f"Bearer {state.token}":
                return self._reply(401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
            if state.statuses:
                code = state.statuses.pop(0)
                return self._reply(code, [{"errorCode": "SERVER_UNAVAILABLE" if code >= 500 else "FORCED", "message": "forced"}])
            if method == "GET" and _LIMITS.match(self.path):
                return self._reply(200, state.limits)
            m = _SOBJECT.match(self.path)
            if not m:
                return self._reply(404, [{"errorCode": "NOT_FOUND", "message": "no such resource"}])
            key = (m["object"], m["id"])
            if key not in state.records:
                return self._reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
            record = state.records[key]
            if method == "GET":
                return self._reply(200, {"attributes": {"type": m["object"]}, "Id": m["id"], **record})
            unknown = [f for f in (body or {}) if f not in record]
            if unknown:
                return self._reply(400, [{"errorCode": "INVALID_FIELD", "message": f"No such column '{unknown[0]}'"}])
            record.update(body or {})
            self.send_response(204)
            self.end_headers()

        def do_GET(self):
            self._handle("GET")

        def do_PATCH(self):
            self._handle("PATCH")

        def log_message(self, *args):
            pass

    return Handler


def start_fake_salesforce(servers: Servers, directory: Path, *, token: str, records: dict) -> FakeSalesforce:
    cert_path, key_path = self_signed_cert(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    state = FakeSalesforce(token=token, records=records, ca_path=str(cert_path))
    state.port = servers.start(_salesforce_handler(state), tls=context)
    return state
