"""The one lease helper (revops.lib.lease): claim, lease expiry, renew/release, reaper, lost-message resend.

Two configurations, the services' own (with a fixed lease and resend delay): a token lease with
an explicit expiry and a due time over actions, and a start-based lease without a token over runs. Time is passed in
(``now=``) so expiry is exact; rows are created in two tenants with no tenant in context, as
the worker and the dispatcher see them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest
from django.utils import timezone

from actions.models import Action, ActionKind, ActionStatus
from actions.services import ACTION_LEASE
from agents.models import Run, RunStatus
from agents.services import RUN_LEASE

LEASE_SECONDS = 60
RESEND_MINUTES = 5

# The services' own configurations, with a fixed lease and resend delay (settings-independent).
TOKEN_LEASE = dataclasses.replace(
    ACTION_LEASE, duration=lambda: dt.timedelta(seconds=LEASE_SECONDS), resend_after=dt.timedelta(minutes=RESEND_MINUTES)
)
START_LEASE = dataclasses.replace(
    RUN_LEASE, duration=lambda: dt.timedelta(seconds=LEASE_SECONDS), resend_after=dt.timedelta(minutes=RESEND_MINUTES),
    max_attempts=lambda: 2,
)
_keys = itertools.count()


def queued_action(tenant, **fields) -> Action:
    defaults = {"kind": ActionKind.WEBHOOK, "status": ActionStatus.QUEUED, "idempotency_key": f"lease-{next(_keys)}", "max_attempts": 3}
    return Action.objects.for_tenant(tenant).create(tenant=tenant, **{**defaults, **fields})


def queued_run(tenant) -> Run:
    return Run.objects.for_tenant(tenant).create(tenant=tenant, channel="api", query="What is the win rate?", as_of=dt.date(2025, 6, 30))


def stored(row):
    return type(row).objects.for_tenant(row.tenant_id).get(pk=row.pk)


# --- claim --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_second_claim_of_the_same_row_is_refused(world_a):
    action, run = queued_action(world_a.tenant), queued_run(world_a.tenant)
    now = timezone.now()

    first = TOKEN_LEASE.claim(action.pk, now=now, select_related=("tenant",))
    assert first is not None and first.status == ActionStatus.RUNNING and first.attempts == 1
    assert first.claim_token is not None and first.claimed_until == now + dt.timedelta(seconds=LEASE_SECONDS)
    assert first.tenant == world_a.tenant  # loaded with the row: the task loader's tenant
    assert TOKEN_LEASE.claim(action.pk, now=now) is None  # a duplicate delivery does nothing
    assert stored(action).attempts == 1

    claimed = START_LEASE.claim(run.pk, reclaim_expired=True, now=now)
    assert claimed is not None and claimed.status == RunStatus.RUNNING and claimed.started_at == now and claimed.attempts == 1
    assert START_LEASE.claim(run.pk, reclaim_expired=True, now=now + dt.timedelta(seconds=LEASE_SECONDS - 1)) is None


@pytest.mark.django_db
def test_a_row_not_due_or_out_of_attempts_is_not_claimed(world_a):
    now = timezone.now()
    later = queued_action(world_a.tenant, next_attempt_at=now + dt.timedelta(minutes=1))
    spent = queued_action(world_a.tenant, attempts=3)
    assert TOKEN_LEASE.claim(later.pk, now=now) is None
    assert TOKEN_LEASE.claim(later.pk, now=now + dt.timedelta(minutes=2)) is not None  # due now
    assert TOKEN_LEASE.claim(spent.pk, now=now) is None
    assert TOKEN_LEASE.claim(10**9, now=now) is None  # unknown id


@pytest.mark.django_db
def test_an_expired_claim_is_reclaimable_and_the_old_holder_cannot_store_its_outcome(world_a):
    run = queued_run(world_a.tenant)
    now = timezone.now()
    old = START_LEASE.claim(run.pk, reclaim_expired=True, now=now)
    expired_at = now + dt.timedelta(seconds=LEASE_SECONDS + 1)
    new = START_LEASE.claim(run.pk, reclaim_expired=True, now=expired_at)
    assert new is not None and new.attempts == 2 and new.started_at == expired_at
    assert not START_LEASE.release(old, status=RunStatus.SUCCEEDED)  # attempt 1 no longer holds it
    assert START_LEASE.release(new, status=RunStatus.SUCCEEDED)
    assert stored(run).status == RunStatus.SUCCEEDED
    # A third claim: the run is finished (and out of attempts, max 2).
    assert START_LEASE.claim(run.pk, reclaim_expired=True, now=expired_at + dt.timedelta(hours=1)) is None

    action = queued_action(world_a.tenant)
    holder = TOKEN_LEASE.claim(action.pk, now=now)
    # Without reclaim_expired (actions), an expired claim is the reaper's, not another worker's.
    assert TOKEN_LEASE.claim(action.pk, now=now + dt.timedelta(seconds=LEASE_SECONDS + 1)) is None
    assert TOKEN_LEASE.claim(action.pk, reclaim_expired=True, now=now + dt.timedelta(seconds=LEASE_SECONDS + 1)) is not None
    assert not TOKEN_LEASE.release(holder, status=ActionStatus.SUCCEEDED)  # another token holds it now


@pytest.mark.django_db
def test_renew_extends_the_lease_while_held_and_release_clears_the_claim(world_a):
    action = queued_action(world_a.tenant)
    now = timezone.now()
    holder = TOKEN_LEASE.claim(action.pk, now=now)
    renewed_at = now + dt.timedelta(seconds=LEASE_SECONDS - 5)
    assert TOKEN_LEASE.renew(holder, count_attempt=True, now=renewed_at)
    row = stored(action)
    assert row.claimed_until == renewed_at + dt.timedelta(seconds=LEASE_SECONDS) and row.attempts == 2
    assert holder.attempts == 2 and holder.claimed_until == row.claimed_until  # kept in step in memory
    # Not expired at the first lease's end any more.
    assert TOKEN_LEASE.expired(now=now + dt.timedelta(seconds=LEASE_SECONDS + 1)) == []
    assert TOKEN_LEASE.release(holder, status=ActionStatus.SUCCEEDED)
    row = stored(action)
    assert (row.status, row.claim_token, row.claimed_until) == (ActionStatus.SUCCEEDED, None, None)
    assert not TOKEN_LEASE.renew(holder, now=renewed_at)  # released: nothing to renew


# --- reaper -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_reaper_finds_expired_leases_of_every_tenant_and_takes_each_over_once(world_a, world_b):
    now = timezone.now()
    a = TOKEN_LEASE.claim(queued_action(world_a.tenant).pk, now=now)
    b = TOKEN_LEASE.claim(queued_action(world_b.tenant).pk, now=now)
    fresh = TOKEN_LEASE.claim(queued_action(world_b.tenant).pk, now=now + dt.timedelta(seconds=30))
    assert TOKEN_LEASE.expired(now=now + dt.timedelta(seconds=LEASE_SECONDS - 1)) == []

    reap_at = now + dt.timedelta(seconds=LEASE_SECONDS + 1)
    expired = TOKEN_LEASE.expired(now=reap_at)
    assert {(r.pk, r.tenant_id) for r in expired} == {(a.pk, world_a.tenant.pk), (b.pk, world_b.tenant.pk)}
    assert fresh.pk not in {r.pk for r in expired}

    first = next(r for r in expired if r.pk == a.pk)
    assert TOKEN_LEASE.reap(first, now=reap_at, status=ActionStatus.QUEUED)
    assert not TOKEN_LEASE.reap(first, now=reap_at, status=ActionStatus.QUEUED)  # already taken over
    row = stored(a)
    assert (row.status, row.claim_token, row.claimed_until, row.attempts) == (ActionStatus.QUEUED, None, None, 1)
    assert not TOKEN_LEASE.release(a, status=ActionStatus.SUCCEEDED)  # the dead worker's outcome is refused


@pytest.mark.django_db
def test_a_run_reclaimed_meanwhile_is_not_reaped(world_a):
    now = timezone.now()
    run = START_LEASE.claim(queued_run(world_a.tenant).pk, reclaim_expired=True, now=now)
    later = now + dt.timedelta(seconds=LEASE_SECONDS + 1)
    (listed,) = START_LEASE.expired(now=later)
    assert listed.pk == run.pk and listed.attempts == 1
    START_LEASE.claim(run.pk, reclaim_expired=True, now=later)  # a redelivery took it first
    assert not START_LEASE.reap(listed, now=later, status=RunStatus.QUEUED)
    assert stored(run).status == RunStatus.RUNNING


@pytest.mark.django_db
def test_exhausted_lists_queued_rows_without_attempts_left(world_a, world_b):
    spent = queued_action(world_b.tenant, attempts=3)
    queued_action(world_a.tenant, attempts=2)
    assert [(r.pk, r.tenant_id) for r in TOKEN_LEASE.exhausted()] == [(spent.pk, world_b.tenant.pk)]


# --- lost messages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_queued_rows_whose_message_was_probably_lost_are_listed_for_resending(world_a, world_b):
    now = timezone.now()
    old = now - dt.timedelta(minutes=RESEND_MINUTES + 1)
    recent = now - dt.timedelta(minutes=RESEND_MINUTES - 1)
    lost = queued_action(world_a.tenant, enqueued_at=old)
    never = queued_action(world_b.tenant)  # never handed over: resent as soon as due
    queued_action(world_a.tenant, enqueued_at=recent)  # handed over recently: wait
    queued_action(world_a.tenant, enqueued_at=old, next_attempt_at=now + dt.timedelta(minutes=1))  # not due
    queued_action(world_a.tenant, enqueued_at=old, attempts=3)  # no attempts left: the dispatcher marks it dead
    assert {r.pk for r in TOKEN_LEASE.lost(now=now)} == {lost.pk, never.pk}

    assert TOKEN_LEASE.mark_enqueued([lost.pk, never.pk], now=now) == 2
    assert TOKEN_LEASE.lost(now=now) == []
    assert {r.pk for r in TOKEN_LEASE.lost(now=now + dt.timedelta(minutes=RESEND_MINUTES + 1))} >= {lost.pk, never.pk}


@pytest.mark.django_db
def test_a_run_never_handed_over_is_resent_only_after_resend_after_from_its_creation(world_a):
    run = queued_run(world_a.tenant)
    created = stored(run).queued_at
    assert START_LEASE.lost(now=created + dt.timedelta(minutes=RESEND_MINUTES - 1)) == []
    (row,) = START_LEASE.lost(now=created + dt.timedelta(minutes=RESEND_MINUTES + 1))
    assert row.pk == run.pk
    START_LEASE.claim(run.pk, now=created + dt.timedelta(minutes=RESEND_MINUTES + 1))
    assert START_LEASE.lost(now=created + dt.timedelta(hours=1)) == []  # running, not queued
    assert START_LEASE.mark_enqueued([run.pk]) == 0  # only queued rows are marked


def test_the_services_use_the_helper_with_their_own_columns():
    assert (ACTION_LEASE.model, ACTION_LEASE.token_field, ACTION_LEASE.expires_field, ACTION_LEASE.due_field) == (
        Action, "claim_token", "claimed_until", "next_attempt_at"
    )
    assert (RUN_LEASE.model, RUN_LEASE.token_field, RUN_LEASE.expires_field, RUN_LEASE.queued_since_field) == (
        Run, None, None, "queued_at"
    )
