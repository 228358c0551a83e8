"""``crm_update``: set fields on one CRM record (Salesforce, through ``simple-salesforce``).

Payload: ``object`` (``Opportunity`` or ``Contact``), ``record_id`` (a 15- or 18-character
Salesforce id), ``fields`` (1-10 field API names -> scalar values, e.g.
``{"StageName": "Negotiation/Review", "CloseDate": "2025-07-31"}``).

Execution reads the current values first (stored as ``result["before"]``) and then PATCHes the
record. Setting a field to a value is idempotent, so a retry after a lost outcome is harmless.
The instance URL goes through the SSRF guard (https, public unless allowlisted) at each attempt.
"""

from __future__ import annotations

import re

import requests
from rest_framework import serializers
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from actions.handlers.base import Described, Handler, PermanentError, RetryableError
from actions.models import Action, ActionKind
from integrations.outbound import outbound_check
from actions.selectors import action_policy_get
from integrations.salesforce.client import salesforce_client
from integrations.health import connector_record_for_kind
from integrations.models import ConnectorKind
from integrations.salesforce.selectors import SalesforceNotConfigured, salesforce_connection_get
from revops.lib.urls import UnsafeURL

CRM_OBJECTS = ("Opportunity", "Contact")
_RECORD_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_READ_ONLY_FIELDS = {"Id", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp", "IsDeleted"}


class CrmUpdatePayload(serializers.Serializer):
    """``{"object": "Opportunity"|"Contact", "record_id": 15/18-char Salesforce id, "fields": {api name: value}}``;
    at most 10 fields, read-only and system fields refused (ValidationError)."""
    object = serializers.ChoiceField(choices=CRM_OBJECTS)
    record_id = serializers.RegexField(_RECORD_ID, max_length=18)
    fields = serializers.DictField(child=serializers.JSONField(allow_null=True), allow_empty=False)

    def validate_fields(self, value: dict) -> dict:
        if len(value) > 10:
            raise serializers.ValidationError("at most 10 fields per update")
        for name, v in value.items():
            if not _FIELD.match(name) or name in _READ_ONLY_FIELDS:
                raise serializers.ValidationError(f"{name!r} is not an updatable field name")
            if not (v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 1000)):
                raise serializers.ValidationError(f"{name}: values must be text (<= 1000 chars), numbers, booleans or null")
        return value


def _sf_error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or "")
    return ""


class CrmUpdateHandler(Handler):
    """Updates fields of one Salesforce record through simple-salesforce (tenant ``salesforce``
    credential); reads the old values first so the result shows before/after."""
    kind = ActionKind.CRM_UPDATE.value
    serializer_class = CrmUpdatePayload

    def describe(self, *, tenant, payload: dict) -> Described:
        changes = "\n".join(f"- {name} → {value!r}" for name, value in payload["fields"].items())
        return Described(
            target=f"{payload['object']} {payload['record_id']}",
            preview=f"Update Salesforce {payload['object']} {payload['record_id']}:\n{changes}",
        )

    def execute(self, action: Action) -> dict:
        payload = action.payload
        try:
            connection = salesforce_connection_get()
            outbound_check(connection.instance_url, allowlist=action_policy_get(tenant=action.tenant).outbound_allowlist)
        except SalesforceNotConfigured as exc:
            raise PermanentError(str(exc)) from None
        except UnsafeURL as exc:
            raise PermanentError(f"Salesforce instance URL refused: {exc}") from None
        sf = salesforce_client(
            instance_url=connection.instance_url, access_token=connection.access_token, api_version=connection.api_version
        )
        sobject = getattr(sf, payload["object"])
        fields = payload["fields"]
        try:
            current = sobject.get(payload["record_id"])
            before = {name: current.get(name) for name in fields}
            status_code = sobject.update(payload["record_id"], fields)
        except SalesforceExpiredSession:
            connector_record_for_kind(kind=ConnectorKind.SALESFORCE, ok=False, error="Salesforce refused the access token (expired or revoked)")
            raise PermanentError("Salesforce refused the access token (expired or revoked); update the credential") from None
        except SalesforceResourceNotFound:
            raise PermanentError(f"{payload['object']} {payload['record_id']} does not exist in Salesforce") from None
        except SalesforceMalformedRequest as exc:
            raise PermanentError(f"Salesforce refused the update: {_sf_error_code(exc) or 'malformed request'}") from None
        except SalesforceRefusedRequest as exc:
            code = _sf_error_code(exc)
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise RetryableError("Salesforce API request limit exceeded") from None
            raise PermanentError(f"Salesforce refused the request: {code or 'forbidden'}") from None
        except SalesforceGeneralError as exc:
            if exc.status == 429 or exc.status >= 500:
                connector_record_for_kind(kind=ConnectorKind.SALESFORCE, ok=False, error=f"Salesforce answered HTTP {exc.status}")
                raise RetryableError(f"Salesforce answered HTTP {exc.status}") from None
            raise PermanentError(f"Salesforce answered HTTP {exc.status}: {_sf_error_code(exc)}") from None
        except SalesforceError as exc:
            raise PermanentError(f"Salesforce answered HTTP {exc.status}") from None
        except requests.RequestException as exc:
            connector_record_for_kind(kind=ConnectorKind.SALESFORCE, ok=False, error=f"Salesforce unreachable: {type(exc).__name__}")
            raise RetryableError(f"Salesforce unreachable: {type(exc).__name__}") from None
        connector_record_for_kind(kind=ConnectorKind.SALESFORCE, ok=True)
        return {"object": payload["object"], "record_id": payload["record_id"], "before": before, "after": fields, "status_code": status_code}
