"""Enqueue django-q2 tasks through one broker per process.

django-q2's ``async_task`` builds a new broker on every call unless it is given one (its
``get_broker()``); with the Redis broker (``Q_BROKER_URL``) that is a new connection pool, so a new
TCP connection, per task. :func:`task_enqueue` passes the process's broker instead: the ORM broker
is stateless (Django's per-thread connections), a redis-py client is thread-safe and re-opens its
pool after a fork. Measured on the Slack ack path in issue 10 (``benchmarks.slack_ack``).
"""

from __future__ import annotations

import functools
from typing import Any

from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task


@functools.cache
def queue_broker() -> Broker:
    """The django-q2 broker of this process (ORM by default, Redis with ``Q_BROKER_URL``), built once."""
    return get_broker()


def task_enqueue(func: str, *args: Any, task_name: str) -> str:
    """Enqueue the django-q2 task ``func`` (a dotted path) with positional ``args``; its task id.

    ``task_name`` is what the django-q2 admin shows (cut to 100 characters). Raises what the broker
    raises when the enqueue fails (a database error with the ORM broker, ``redis.RedisError``).
    """
    return async_task(func, *args, task_name=task_name[:100], broker=queue_broker())
