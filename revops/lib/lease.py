"""One claim / lease / reaper / lost-message helper for work rows handed to the broker (runs, actions).

The problem (DESIGN.md §3.6 and §5): a django-q2 message may be delivered twice, a worker may be
killed mid-task, and a message may be lost after the row committed. The answer, for any model
with a status column:

- **claim**: one conditional ``UPDATE ... WHERE status = queued`` moves a row to ``running``,
  counts the attempt and starts a lease; a second delivery updates nothing and is refused;
- **lease**: the claim holds until it expires (``duration`` after it was taken or last renewed);
  the holder stores its outcome only while it still holds the claim (:meth:`Lease.release`,
  :meth:`Lease.held_q`), so a worker that overran cannot overwrite the reaper's decision;
- **reaper**: :meth:`Lease.expired` lists running rows whose lease ran out (their worker died),
  :meth:`Lease.reap` takes one over with a conditional UPDATE (requeue or fail: the caller decides);
- **lost messages**: :meth:`Lease.lost` lists queued rows, due and with attempts left, whose
  last hand-over to the broker (``enqueued_at``) is older than ``resend_after``;
  :meth:`Lease.mark_enqueued` notes a new hand-over. The claim makes a duplicate harmless.

The helper is parametrised by field names, so both models keep their columns:

- runs (``agents.services.RUN_LEASE``): no token (the attempt number identifies a claim), the
  lease runs from ``started_at`` (worker timeout + 30 s), a run never enqueued counts from
  ``queued_at``;
- actions (``actions.services.ACTION_LEASE``): a ``claim_token`` (UUID) and an explicit
  expiry (``claimed_until``), a per-row ``max_attempts`` and a due time (``next_attempt_at``);
  an action never enqueued is resent as soon as it is due.

Claims by primary key, the reaper's and the resender's lists span tenants (the tenant is not
known before the row is read; maintenance covers every tenant): they read through the model's
``objects.unscoped()`` in :meth:`Lease._all_tenants`, the one place. Work on a row already read
(renew, release, reap) goes through ``objects.for_tenant(row.tenant_id)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


@dataclass(frozen=True)
class Lease:
    """How one model's rows are claimed, leased, reaped and resent (see the module doc).

    Attributes:
        model: a tenant-owned model (``objects`` is a ``TenantScopedManager``).
        duration: returns how long a claim lasts (read at each call, so settings apply at once).
        resend_after: a queued row whose last hand-over is older than this is resent.
        max_attempts: a number (callable, read at each call) or the name of a per-row field.
        status_field / queued / running: the status column and its two values.
        attempts_field: counts claims (one per attempt).
        started_field: set to the claim time; the lease runs from it when ``expires_field`` is None.
        expires_field: the lease's expiry column, or None (expiry = ``started_field`` + ``duration``).
        token_field: a UUID column naming the holder, or None (the attempt number names it).
        enqueued_field: the time of the last hand-over to the broker (null: never handed over).
        queued_since_field: when ``enqueued_field`` is null, resend once this is older than
            ``resend_after``; None resends such rows as soon as they are due.
        due_field: rows whose due time is in the future are neither claimed nor resent (None: always due).
    """

    model: type[models.Model]
    duration: Callable[[], timedelta]
    resend_after: timedelta
    max_attempts: Callable[[], int] | str
    status_field: str = "status"
    queued: str = "queued"
    running: str = "running"
    attempts_field: str = "attempts"
    started_field: str = "started_at"
    expires_field: str | None = None
    token_field: str | None = None
    enqueued_field: str = "enqueued_at"
    queued_since_field: str | None = None
    due_field: str | None = None

    # --- querysets and predicates ------------------------------------------------------------------

    def _all_tenants(self) -> models.QuerySet:
        # Claims by id come before the tenant is known; the reaper and the resender cover every tenant.
        return self.model.objects.unscoped()

    def _of(self, row: models.Model) -> models.QuerySet:
        return self.model.objects.for_tenant(row.tenant_id)

    def _attempts_left_q(self) -> Q:
        limit = F(self.max_attempts) if isinstance(self.max_attempts, str) else self.max_attempts()
        return Q(**{f"{self.attempts_field}__lt": limit})

    def _due_q(self, now: datetime) -> Q:
        if self.due_field is None:
            return Q()
        return Q(**{f"{self.due_field}__isnull": True}) | Q(**{f"{self.due_field}__lte": now})

    def expired_q(self, now: datetime | None = None) -> Q:
        """Rows ``running`` whose lease ran out at ``now`` (default: the current time)."""
        now = now or timezone.now()
        if self.expires_field is not None:
            ran_out = Q(**{f"{self.expires_field}__lt": now})
        else:
            ran_out = Q(**{f"{self.started_field}__lt": now - self.duration()})
        return Q(**{self.status_field: self.running}) & ran_out

    def held_q(self, row: models.Model) -> Q:
        """Matches ``row`` only while the claim read into it is still held (same pk, ``running``,
        same token, or the same attempt number when there is no token)."""
        holder = self.token_field or self.attempts_field
        return Q(pk=row.pk, **{self.status_field: self.running, holder: getattr(row, holder)})

    def expiry_updates(self, now: datetime | None = None, *, extra: timedelta = timedelta(0)) -> dict[str, Any]:
        """Field updates that make a lease last ``duration`` (+ ``extra``) from ``now``."""
        now = now or timezone.now()
        if self.expires_field is not None:
            return {self.expires_field: now + extra + self.duration()}
        return {self.started_field: now + extra}

    def cleared(self) -> dict[str, Any]:
        """Field updates that drop the claim's token and expiry (nothing for start-based leases)."""
        return {name: None for name in (self.token_field, self.expires_field) if name is not None}

    # --- claim, renew, release ---------------------------------------------------------------------

    def claim(
        self, pk: int, *, reclaim_expired: bool = False, select_related: tuple[str, ...] = (), now: datetime | None = None,
        **updates: Any,
    ) -> models.Model | None:
        """Claim row ``pk`` atomically: one conditional UPDATE from ``queued`` (due, attempts left)
        or, with ``reclaim_expired``, from an expired ``running`` claim (attempts left), to
        ``running`` with ``attempts + 1``, a new token and lease, and ``updates``.

        Returns the claimed row read back (``select_related`` loaded), or None when another
        worker holds it, it is finished, not due or out of attempts: a duplicate delivery does
        nothing. Safe under concurrency (the database serialises the two UPDATEs).
        """
        now = now or timezone.now()
        claimable = Q(**{self.status_field: self.queued}) & self._due_q(now)
        if reclaim_expired:
            claimable |= self.expired_q(now)
        fields: dict[str, Any] = {
            self.status_field: self.running,
            self.attempts_field: F(self.attempts_field) + 1,
            self.started_field: now,
            **self.expiry_updates(now),
            **updates,
        }
        if self.token_field is not None:
            fields[self.token_field] = uuid.uuid4()
        count = self._all_tenants().filter(claimable & self._attempts_left_q(), pk=pk).update(**fields)
        if count != 1:
            return None
        return self._all_tenants().select_related(*select_related).get(pk=pk)  # just claimed, by pk

    def renew(
        self, row: models.Model, *, extra: timedelta = timedelta(0), count_attempt: bool = False, now: datetime | None = None,
        **updates: Any,
    ) -> bool:
        """Extend ``row``'s lease to ``duration`` (+ ``extra``) from now while it is still held;
        ``count_attempt`` counts one more attempt (an in-worker retry). Returns False when the
        claim was lost (the row was reaped or taken over); ``row`` is updated in memory otherwise."""
        fields = {**self.expiry_updates(now, extra=extra), **updates}
        if count_attempt:
            fields[self.attempts_field] = F(self.attempts_field) + 1
        if self._of(row).filter(self.held_q(row)).update(**fields) != 1:
            return False
        for name, value in fields.items():
            if name != self.attempts_field:
                setattr(row, name, value)
        if count_attempt:
            setattr(row, self.attempts_field, getattr(row, self.attempts_field) + 1)
        return True

    def release(self, row: models.Model, **updates: Any) -> bool:
        """Store the holder's outcome (``updates``, e.g. the final status) and drop the claim, only
        while ``row``'s claim is still held. Returns False when it was lost (nothing written)."""
        return self._of(row).filter(self.held_q(row)).update(**{**self.cleared(), **updates}) == 1

    # --- reaper and resender -----------------------------------------------------------------------

    def expired(self, *, limit: int = 500, now: datetime | None = None) -> list[models.Model]:
        """Up to ``limit`` running rows of every tenant whose lease ran out, oldest first (only
        pk, tenant and attempts read)."""
        order = self.expires_field or self.started_field
        return list(
            self._all_tenants().filter(self.expired_q(now)).order_by(order).only("pk", "tenant_id", self.attempts_field)[:limit]
        )

    def reap(self, row: models.Model, *, now: datetime | None = None, **updates: Any) -> bool:
        """Take over ``row`` (from :meth:`expired`) if its lease is still expired: one conditional
        UPDATE writing ``updates`` (the new status...) and dropping the claim. Returns whether it
        happened (False: finished or reclaimed meanwhile)."""
        return self._of(row).filter(self.expired_q(now), pk=row.pk).update(**{**self.cleared(), **updates}) == 1

    def exhausted(self, *, limit: int = 500) -> list[models.Model]:
        """Up to ``limit`` queued rows of every tenant with no attempts left (only pk and tenant read)."""
        return list(self._all_tenants().filter(~self._attempts_left_q(), **{self.status_field: self.queued}).only("pk", "tenant_id")[:limit])

    def lost(self, *, limit: int = 500, now: datetime | None = None) -> list[models.Model]:
        """Up to ``limit`` queued rows of every tenant (due, attempts left) whose broker message was
        probably lost: handed over longer than ``resend_after`` ago, or never handed over (since
        ``queued_since_field`` older than ``resend_after``, or at once without that field).
        Oldest due first; only pk and tenant read."""
        now = now or timezone.now()
        cutoff = now - self.resend_after
        never = Q(**{f"{self.enqueued_field}__isnull": True})
        if self.queued_since_field is not None:
            never &= Q(**{f"{self.queued_since_field}__lt": cutoff})
        stale = never | Q(**{f"{self.enqueued_field}__lt": cutoff})
        rows = self._all_tenants().filter(stale & self._due_q(now) & self._attempts_left_q(), **{self.status_field: self.queued})
        order = self.due_field or self.queued_since_field or "pk"
        return list(rows.order_by(order, "pk").only("pk", "tenant_id")[:limit])

    def mark_enqueued(self, pks: list[int], *, now: datetime | None = None) -> int:
        """Note that rows ``pks`` (still queued) were just handed to the broker. Returns the count."""
        if not pks:
            return 0
        return self._all_tenants().filter(pk__in=pks, **{self.status_field: self.queued}).update(
            **{self.enqueued_field: now or timezone.now()}
        )
