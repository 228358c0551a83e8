"""``warehouse_write``: insert one typed insight row into the tenant's insights table.

Payload (the table's typed schema): ``category`` and ``type`` (1-64 chars, e.g. ``deal`` /
``risk``), ``title`` (1-200), ``description`` (<= 4,000), ``score`` (0-1), ``source_agent``
(1-64). The row's key is the action's ``message_id``, so a retried action writes once
(``INSERT ... ON CONFLICT DO NOTHING``). See :mod:`actions.insights` for the table and role.
"""

from __future__ import annotations

from rest_framework import serializers

from actions.handlers.base import Described, Handler, PermanentError, RetryableError
from actions.insights import InsightsUnavailable, InsightWriteError, insight_insert, insights_table_get
from actions.models import Action, ActionKind
from tenants.context import tenant_context


class WarehouseWritePayload(serializers.Serializer):
    """One insight row: category, type, title (<= 200 chars), description (<= 4,000), score 0-1,
    source agent. The columns are fixed; no SQL comes from the payload."""
    category = serializers.CharField(max_length=64)
    type = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=4000, allow_blank=True)
    score = serializers.FloatField(min_value=0.0, max_value=1.0)
    source_agent = serializers.CharField(max_length=64)


class WarehouseWriteHandler(Handler):
    """Inserts the insight row into the tenant's insights table through its insert-only role."""
    kind = ActionKind.WAREHOUSE_WRITE.value
    serializer_class = WarehouseWritePayload

    def describe(self, *, tenant, payload: dict) -> Described:
        with tenant_context(tenant):
            try:
                where = insights_table_get()
                target = f"{where.schema}.{where.table}"
            except InsightsUnavailable:
                target = "insights table (not configured)"
        preview = (
            f"Insert an insight into {target}:\n- category: {payload['category']}\n- type: {payload['type']}\n"
            f"- title: {payload['title']}\n- score: {payload['score']:.2f}\n- source agent: {payload['source_agent']}\n\n"
            f"{payload['description'][:2000]}"
        )
        return Described(target=target[:255], preview=preview)

    def execute(self, action: Action) -> dict:
        try:
            where = insights_table_get()
        except InsightsUnavailable as exc:
            raise PermanentError(str(exc)) from None
        p = action.payload
        row = {
            "action_key": str(action.message_id),
            "run_id": str(action.run.tracking_id) if action.run_id and action.run else None,
            "category": p["category"],
            "type": p["type"],
            "title": p["title"],
            "description": p["description"],
            "score": float(p["score"]),
            "source_agent": p["source_agent"],
        }
        try:
            inserted = insight_insert(where=where, row=row)
        except InsightWriteError as exc:
            if exc.retryable:
                raise RetryableError(str(exc)) from None
            raise PermanentError(str(exc)) from None
        return {"table": f"{where.schema}.{where.table}", "key": row["action_key"], "inserted": inserted}
