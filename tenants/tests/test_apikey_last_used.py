"""``ApiKey.last_used_at`` is written at most once a minute per key, not on every request."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tenants.models import ApiKey
from tenants.services import apikey_authenticate


def _updates(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("UPDATE") and "last_used_at" in q["sql"]]


def test_first_use_writes_then_requests_within_a_minute_do_not(world_a):
    prefix = world_a.api_key.split("_")[1]
    ApiKey.objects.unscoped().filter(prefix=prefix).update(last_used_at=None)
    with CaptureQueriesContext(connection) as ctx:
        apikey_authenticate(raw_key=world_a.api_key)
    assert len(_updates(ctx)) == 1
    first = ApiKey.objects.unscoped().get(prefix=prefix).last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as ctx:
        for _ in range(5):
            apikey_authenticate(raw_key=world_a.api_key)
    assert _updates(ctx) == [] and len(ctx.captured_queries) == 5  # one SELECT per request
    assert ApiKey.objects.unscoped().get(prefix=prefix).last_used_at == first


def test_a_use_after_a_minute_refreshes_it(world_a):
    prefix = world_a.api_key.split("_")[1]
    old = timezone.now() - dt.timedelta(minutes=2)
    ApiKey.objects.unscoped().filter(prefix=prefix).update(last_used_at=old)
    apikey_authenticate(raw_key=world_a.api_key)
    assert ApiKey.objects.unscoped().get(prefix=prefix).last_used_at > old + dt.timedelta(minutes=1)

