"""A local fake of the Salesforce REST API for the sync tests, spoken to by the real
simple-salesforce client (DESIGN.md §3.9): HTTPS on 127.0.0.1 with a self-signed certificate
(simple-salesforce only speaks https), nothing of ours patched.

Endpoints:

- ``POST /services/oauth2/token``: ``grant_type=refresh_token`` (checks ``client_id``,
  ``client_secret``, ``refresh_token``) and the JWT bearer grant (checks the RS256 assertion
  against ``jwt_public_key``, issuer and subject); issues a new access token.
- ``GET /services/data/vXX.X/query?q=SOQL`` and ``/queryAll?q=SOQL``, with ``nextRecordsUrl``
  pagination (``/query/<locator>-<offset>``) of ``page_size`` records.
- ``GET /services/data/vXX.X/limits/``: ``DailyApiRequests`` with ``Max`` 15,000 and
  ``Remaining`` 15,000 minus the GET requests received so far, this one included (what "Test
  connection" reads).

The SOQL it understands, implemented here: ``SELECT f1, f2 FROM Object [WHERE Field op literal
[AND ...]] [ORDER BY Field [ASC|DESC], ...] [LIMIT n]`` with ``=, !=, <, <=, >, >=`` and
dateTime, date, string, boolean, number and ``null`` literals. ``query`` hides deleted records,
``queryAll`` returns them with ``IsDeleted: true``. An unknown field is a 400 ``INVALID_FIELD``.

Failure injection: ``plan`` is consumed one entry per data request (``None`` = answer normally):
an HTTP status (``503``, ``429``...), ``"limit"`` (403 ``REQUEST_LIMIT_EXCEEDED``),
``"malformed"`` (200 with a body that is not JSON), ``"timeout"`` (answer after
``slow_seconds``). ``expire_tokens()`` makes every issued token answer 401
``INVALID_SESSION_ID``.

Seeding (:func:`demo_records`) from the demo CSV files: accounts, sales agents as Users,
sales_pipeline as Opportunities (``Amount`` = ``close_value`` for closed deals; open deals carry
their product's list price as the expected amount, as an org with products would; ``StageName``
Won -> Closed Won, Lost -> Closed Lost, Engaging -> Negotiation, Prospecting -> Prospecting),
interactions as Contacts and Tasks, one primary OpportunityContactRole per opportunity whose
account has a contact. Every record gets a distinct, increasing ``SystemModstamp``.
"""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import json
import re
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from actions.tests.fakes import Servers, self_signed_cert

CRM_DIR = Path(__file__).resolve().parents[1] / "warehouse" / "demo_crm"
STAGE_MAP = {"Won": "Closed Won", "Lost": "Closed Lost", "Engaging": "Negotiation", "Prospecting": "Prospecting"}
STAGE_FLAGS = {  # StageName -> (IsWon, IsClosed, Probability, ForecastCategoryName)
    "Prospecting": (False, False, 10, "Pipeline"),
    "Negotiation": (False, False, 90, "Commit"),
    "Closed Won": (True, True, 100, "Closed"),
    "Closed Lost": (False, True, 0, "Omitted"),
}
SEED_STAMP = dt.datetime(2025, 7, 1, tzinfo=dt.timezone.utc)

#: The standard fields the fake knows per object (a query naming another one is a 400).
FIELDS: dict[str, set[str]] = {
    "Account": {"Id", "Name", "Type", "Industry", "AnnualRevenue", "NumberOfEmployees", "BillingCountry", "Website", "OwnerId", "ParentId"},
    "User": {"Id", "Name", "Email", "Title", "Department", "Division", "ManagerId", "IsActive"},
    "Opportunity": {"Id", "Name", "AccountId", "OwnerId", "StageName", "Amount", "CloseDate", "Probability", "ForecastCategoryName",
                    "IsWon", "IsClosed", "Type", "LeadSource", "NextStep", "LastModifiedDate"},
    "Contact": {"Id", "AccountId", "FirstName", "LastName", "Name", "Email", "Title", "OwnerId"},
    "OpportunityContactRole": {"Id", "OpportunityId", "ContactId", "Role", "IsPrimary"},
    "Task": {"Id", "Subject", "Status", "Priority", "Type", "TaskSubtype", "ActivityDate", "WhoId", "WhatId", "AccountId", "OwnerId", "Description"},
    "Event": {"Id", "Subject", "Type", "StartDateTime", "EndDateTime", "ActivityDate", "WhoId", "WhatId", "AccountId", "OwnerId", "Description"},
}
DELETABLE = {name for name in FIELDS if name != "User"}
for _fields in FIELDS.values():
    _fields |= {"CreatedDate", "SystemModstamp"}
for _name in DELETABLE:
    FIELDS[_name].add("IsDeleted")


def sf_stamp(value: dt.datetime) -> str:
    """Salesforce's dateTime wire format: ``2025-07-01T00:00:00.000+0000``."""
    value = value.astimezone(dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _us_date(value: str) -> str | None:
    if not value:
        return None
    month, day, year = (int(x) for x in value.split("/"))
    return dt.date(year, month, day).isoformat()


def _read(name: str, csv_dir: Path) -> list[dict[str, str]]:
    with open(csv_dir / f"{name}.csv", newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def account_sfid(account_id: str) -> str:
    return f"001{int(account_id):012d}"


def user_sfid(sales_person_id: str) -> str:
    return f"005{int(sales_person_id):012d}"


def opportunity_sfid(opportunity_id: str) -> str:
    return f"0060000{opportunity_id}"


def account_domain(name: str) -> str:
    """The fake website domain of a demo account: ``Acme Corporation`` -> ``acmecorporation.com``."""
    return re.sub(r"[^a-z0-9]", "", name.lower()) + ".com"


def demo_records(csv_dir: Path = CRM_DIR) -> dict[str, list[dict]]:
    """Salesforce records per object built from the demo CSVs (see the module docstring)."""
    accounts = _read("accounts", csv_dir)
    teams = _read("sales_teams", csv_dir)
    products = {p["product_id"]: p for p in _read("products", csv_dir)}
    pipeline = _read("sales_pipeline", csv_dir)
    notes = _read("interactions", csv_dir)
    id_by_name = {a["account"]: account_sfid(a["account_id"]) for a in accounts}
    user_by_agent = {t["sales_agent"]: user_sfid(t["sales_person_id"]) for t in teams}

    def num(v: str) -> float | None:
        return float(v) if v != "" else None

    out: dict[str, list[dict]] = {name: [] for name in FIELDS}
    for a in accounts:
        out["Account"].append({
            "Id": account_sfid(a["account_id"]), "Name": a["account"], "Type": "Customer", "Industry": a["sector"] or None,
            "AnnualRevenue": round(float(a["revenue"]) * 1_000_000, 2) if a["revenue"] else None, "NumberOfEmployees": int(a["employees"]) if a["employees"] else None,
            "BillingCountry": a["office_location"] or None, "Website": f"https://www.{account_domain(a['account'])}",
            "OwnerId": None, "ParentId": id_by_name.get(a["subsidiary_of"]) if a["subsidiary_of"] else None,
            "CreatedDate": "2020-01-01T00:00:00.000+0000",
        })
    for t in teams:
        first, _, last = t["sales_agent"].partition(" ")
        out["User"].append({
            "Id": user_sfid(t["sales_person_id"]), "Name": t["sales_agent"], "Email": f"{first.lower()}.{last.lower()}@hardware.example",
            "Title": "Account Executive", "Department": "Sales", "Division": t["regional_office"], "ManagerId": None, "IsActive": True,
            "CreatedDate": "2020-01-01T00:00:00.000+0000",
        })
    for o in pipeline:
        stage = STAGE_MAP[o["deal_stage"]]
        won, closed, probability, forecast = STAGE_FLAGS[stage]
        amount = num(o["close_value"]) if closed else num(products[o["product_id"]]["sales_price"])
        engage = _us_date(o["engage_date"])
        out["Opportunity"].append({
            "Id": opportunity_sfid(o["opportunity_id"]), "Name": f"{o['account'] or 'No account'} - {o['product']}",
            "AccountId": account_sfid(o["account_id"]) if o["account_id"] else None, "OwnerId": user_by_agent[o["sales_agent"]],
            "StageName": stage, "Amount": amount, "CloseDate": _us_date(o["close_date"]), "Probability": probability,
            "ForecastCategoryName": forecast, "IsWon": won, "IsClosed": closed, "Type": "New Business", "LeadSource": None,
            "NextStep": None, "CreatedDate": f"{engage}T12:00:00.000+0000" if engage else None,
        })
    contacts: dict[tuple[str, str], str] = {}
    for i, n in enumerate(notes, start=1):
        acc = account_sfid(n["account_id"]) if n["account_id"] else None
        who = None
        if n["contact_name"]:
            key = (acc or "", n["contact_name"])
            if key not in contacts:
                contacts[key] = f"003{len(contacts) + 1:012d}"
                first, _, last = n["contact_name"].partition(" ")
                out["Contact"].append({
                    "Id": contacts[key], "AccountId": acc, "FirstName": first, "LastName": last or first, "Name": n["contact_name"],
                    "Email": None, "Title": None, "OwnerId": None, "CreatedDate": "2021-01-01T00:00:00.000+0000",
                })
            who = contacts[key]
        day = _us_date(n["timestamp"])
        out["Task"].append({
            "Id": f"00T{i:012d}", "Subject": n["activity_type"], "Status": n["status"], "Priority": "Normal", "Type": n["activity_type"],
            "TaskSubtype": "Task", "ActivityDate": day, "WhoId": who, "WhatId": acc, "AccountId": acc, "OwnerId": None,
            "Description": n["comment"], "CreatedDate": f"{day}T12:00:00.000+0000" if day else None,
        })
    first_contact: dict[str, str] = {}
    for (acc, _name), cid in sorted(contacts.items()):
        first_contact.setdefault(acc, cid)
    for o in out["Opportunity"]:
        cid = first_contact.get(o["AccountId"] or "")
        if cid:
            out["OpportunityContactRole"].append({
                "Id": f"00K{len(out['OpportunityContactRole']) + 1:012d}", "OpportunityId": o["Id"], "ContactId": cid,
                "Role": "Decision Maker", "IsPrimary": True, "CreatedDate": o["CreatedDate"],
            })
    return out


# -- SOQL ------------------------------------------------------------------------------------------

_SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+(?P<object>\w+)(?:\s+WHERE\s+(?P<where>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?(?:\s+LIMIT\s+(?P<limit>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COND = re.compile(r"^\s*(?P<field>\w+)\s*(?P<op>>=|<=|!=|=|>|<)\s*(?P<value>.+?)\s*$", re.DOTALL)


class SoqlError(ValueError):
    """A query the fake (or Salesforce) would refuse; ``code`` is Salesforce's errorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _literal(text: str) -> Any:
    if text.lower() == "null":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("\\'", "'")
    if re.match(r"^\d{4}-\d{2}-\d{2}T", text):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return dt.date.fromisoformat(text)
    try:
        return float(text)
    except ValueError:
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: {text!r}") from None


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value):
        return dt.datetime.strptime(value.replace("+0000", "+00:00"), "%Y-%m-%dT%H:%M:%S.%f%z")
    if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}$", value):
        return dt.date.fromisoformat(value)
    return value


def soql_run(soql: str, records: list[dict], *, object_fields: dict[str, set[str]], include_deleted: bool) -> tuple[str, list[dict]]:
    """Evaluate ``soql`` over ``records`` (all of one object, deleted ones flagged). Returns
    ``(object, rows with the selected fields)``. Raises SoqlError."""
    m = _SOQL.match(soql)
    if not m:
        raise SoqlError("MALFORMED_QUERY", "unexpected query shape")
    obj = m["object"]
    if obj not in object_fields:
        raise SoqlError("INVALID_TYPE", f"sObject type '{obj}' is not supported.")
    fields = [f.strip() for f in m["fields"].split(",")]
    for f in fields:
        if f not in object_fields[obj]:
            raise SoqlError("INVALID_FIELD", f"No such column '{f}' on entity '{obj}'.")
    conds = []
    if m["where"]:
        for part in re.split(r"\s+AND\s+", m["where"], flags=re.IGNORECASE):
            c = _COND.match(part)
            if not c or c["field"] not in object_fields[obj]:
                raise SoqlError("MALFORMED_QUERY", f"cannot read condition {part!r}")
            conds.append((c["field"], c["op"], _literal(c["value"])))
    ops = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a is not None and a > b,
           ">=": lambda a, b: a is not None and a >= b, "<": lambda a, b: a is not None and a < b,
           "<=": lambda a, b: a is not None and a <= b}
    rows = [r for r in records if include_deleted or not r.get("IsDeleted")]
    rows = [r for r in rows if all(ops[op](_comparable(r.get(f)), v) for f, op, v in conds)]
    if m["order"]:
        for item in reversed([p.strip() for p in m["order"].split(",")]):
            name, _, direction = item.partition(" ")
            rows.sort(key=lambda r: (r.get(name) is None, _comparable(r.get(name)) if r.get(name) is not None else 0),
                      reverse=direction.strip().upper() == "DESC")
    if m["limit"]:
        rows = rows[: int(m["limit"])]
    return obj, [{"attributes": {"type": obj, "url": f"/services/data/v59.0/sobjects/{obj}/{r['Id']}"}, **{f: r.get(f) for f in fields}} for r in rows]


# -- the server ------------------------------------------------------------------------------------


@dataclass
class FakeSalesforce:
    """State of the fake org (see the module docstring)."""

    client_id: str = "3MVG9fake.client"
    client_secret: str = "fake-client-secret"
    refresh_token: str = "5Aep861fake.refresh"
    username: str = "integration@hardware.example"
    jwt_public_key: str = ""
    token_instance_url: str = ""  # what the token answer names as the instance (default: this fake)
    page_size: int = 2000
    slow_seconds: float = 3.0
    records: dict[str, dict[str, dict]] = field(default_factory=dict)
    plan: list[Any] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)
    token_requests: int = 0
    port: int = 0
    ca_path: str = ""
    _cursors: dict[str, list[dict]] = field(default_factory=dict)
    _clock: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def instance_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def seed(self, by_object: dict[str, list[dict]]) -> None:
        """Store records with distinct, increasing SystemModstamps (CreatedDate kept)."""
        for obj, rows in by_object.items():
            table = self.records.setdefault(obj, {})
            for row in rows:
                stamp = SEED_STAMP + dt.timedelta(seconds=next(self._clock))
                table[row["Id"]] = {**row, "SystemModstamp": sf_stamp(stamp), "IsDeleted": False,
                                    "CreatedDate": row.get("CreatedDate"), "LastModifiedDate": sf_stamp(stamp)}

    def _now(self) -> str:
        return sf_stamp(SEED_STAMP + dt.timedelta(days=30, seconds=next(self._clock)))

    def update(self, obj: str, record_id: str, **values: Any) -> None:
        """Change a record as a user would: the values, then LastModifiedDate and SystemModstamp."""
        stamp = self._now()
        self.records[obj][record_id].update(values, LastModifiedDate=stamp, SystemModstamp=stamp)

    def delete(self, obj: str, record_id: str) -> None:
        """Move a record to the recycle bin (IsDeleted, SystemModstamp updated)."""
        self.records[obj][record_id].update(IsDeleted=True, SystemModstamp=self._now())

    def expire_tokens(self) -> None:
        """Every issued access token now answers 401 INVALID_SESSION_ID."""
        self.tokens.clear()

    def issue_token(self) -> str:
        token = f"00Dfake!{uuid.uuid4().hex}"
        self.tokens.add(token)
        return token

    def data_requests(self) -> list[tuple[str, str]]:
        return [r for r in self.requests if r[0] == "GET"]


def _handler(state: FakeSalesforce) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _reply(self, status: int, body: Any = None, *, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (a timeout test)
                pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            path = urlsplit(self.path).path
            state.requests.append(("POST", path))
            if path != "/services/oauth2/token":
                return self._reply(404, [{"errorCode": "NOT_FOUND", "message": "no such resource"}])
            state.token_requests += 1
            grant = form.get("grant_type")
            ok = False
            if grant == "refresh_token":
                ok = (form.get("client_id") == state.client_id and form.get("refresh_token") == state.refresh_token
                      and form.get("client_secret", state.client_secret) == state.client_secret)
            elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" and state.jwt_public_key:
                try:
                    claims = jwt.decode(form.get("assertion", ""), state.jwt_public_key, algorithms=["RS256"], audience=f"https://127.0.0.1:{state.port}")
                    ok = claims.get("iss") == state.client_id and claims.get("sub") == state.username
                except jwt.PyJWTError:
                    ok = False
            if not ok:
                return self._reply(400, {"error": "invalid_grant", "error_description": "authentication failure"})
            return self._reply(200, {"access_token": state.issue_token(), "instance_url": state.token_instance_url or state.instance_url, "token_type": "Bearer",
                                     "issued_at": str(int(time.time() * 1000)), "id": f"{state.instance_url}/id/00D/005"})

        def do_GET(self):
            parts = urlsplit(self.path)
            state.requests.append(("GET", self.path))
            auth = self.headers.get("Authorization", "")
            if auth.removeprefix("Bearer ") not in state.tokens:
                return self._reply(401, [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
            action = state.plan.pop(0) if state.plan else None
            if action == "timeout":
                time.sleep(state.slow_seconds)
            elif action == "malformed":
                return self._reply(200, raw=b'{"totalSize": 3, "done": true, "records": [{"Id": ')
            elif action == "limit":
                return self._reply(403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
            elif isinstance(action, int):
                return self._reply(action, [{"errorCode": "SERVER_UNAVAILABLE" if action >= 500 else "REQUEST_LIMIT_EXCEEDED",
                                             "message": f"forced {action}"}])
            if re.match(r"^/services/data/v[\d.]+/limits/?$", parts.path):
                used = sum(1 for method, _ in state.requests if method == "GET")
                return self._reply(200, {"DailyApiRequests": {"Max": 15000, "Remaining": 15000 - used}})
            m = re.match(r"^/services/data/v[\d.]+/(?P<kind>query|queryAll)(?:/(?P<cursor>[\w-]+))?/?$", parts.path)
            if not m:
                return self._reply(404, [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
            include_deleted = m["kind"] == "queryAll"
            if m["cursor"]:
                locator, _, offset = m["cursor"].rpartition("-")
                with state._lock:
                    rows = state._cursors.get(locator)
                if rows is None or not offset.isdigit():
                    return self._reply(400, [{"errorCode": "INVALID_QUERY_LOCATOR", "message": "invalid query locator"}])
                return self._page(m["kind"], locator, rows, int(offset))
            soql = parse_qs(parts.query).get("q", [""])[0]
            try:
                shape = _SOQL.match(soql)
                records = list(state.records.get(shape["object"] if shape else "", {}).values())
                fields = {k: v if k in DELETABLE else v - {"IsDeleted"} for k, v in FIELDS.items()}
                _, rows = soql_run(soql, records, object_fields=fields, include_deleted=include_deleted)
            except SoqlError as exc:
                return self._reply(400, [{"errorCode": exc.code, "message": str(exc)}])
            locator = f"01g{uuid.uuid4().hex[:15]}"
            with state._lock:
                state._cursors[locator] = rows
            return self._page(m["kind"], locator, rows, 0)

        def _page(self, kind: str, locator: str, rows: list[dict], offset: int) -> None:
            chunk = rows[offset: offset + state.page_size]
            done = offset + state.page_size >= len(rows)
            body = {"totalSize": len(rows), "done": done, "records": chunk}
            if not done:
                body["nextRecordsUrl"] = f"/services/data/v59.0/{kind}/{locator}-{offset + state.page_size}"
            self._reply(200, body)

        def log_message(self, *args):
            pass

    return Handler


def start_fake_salesforce(servers: Servers, directory: Path, **kwargs: Any) -> FakeSalesforce:
    """Start the fake (HTTPS on 127.0.0.1) with ``kwargs`` for :class:`FakeSalesforce`."""
    cert_path, key_path = self_signed_cert(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    state = FakeSalesforce(ca_path=str(cert_path), **kwargs)
    state.port = servers.start(_handler(state), tls=context)
    return state
