"""gunicorn configuration: ``gunicorn -c revops/gunicorn_conf.py revops.wsgi:application``
(what ``manage.py serve`` runs). Every value comes from the environment through
``revops.lib.env`` so a bad value fails at start-up; ``--bind`` on the command line wins."""

from revops.lib.env import env_int, env_str

bind = [env_str("WEB_BIND", "127.0.0.1:8765")]
# gthread: each worker process serves WEB_THREADS requests at once (API calls mostly wait on the
# database); processes give parallelism across cores. On 2 cores, 2 x 4 measured as well as 2 x 8,
# 3 x 4, 4 x 2 or 1 x 8 (benchmarks.intake and benchmarks.slack_ack, issue 10): requests are
# bound by database round trips and commits, not by threads; more workers add memory (~135 MiB each).
worker_class = "gthread"
workers = env_int("WEB_WORKERS", 2, minimum=1)
threads = env_int("WEB_THREADS", 4, minimum=1)
timeout = env_int("WEB_TIMEOUT_SECONDS", 60, minimum=5)
graceful_timeout = env_int("WEB_GRACEFUL_TIMEOUT_SECONDS", 10, minimum=1)
keepalive = 5
accesslog = env_str("WEB_ACCESS_LOG", "-") or None  # "-" is stdout; empty turns it off
errorlog = "-"
loglevel = env_str("WEB_LOG_LEVEL", "info")
# Trust X-Forwarded-* only from these proxy addresses (comma-separated; "*" behind a private LB).
forwarded_allow_ips = env_str("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
proc_name = "revops-web"
# gunicorn >= 25.1 opens a control socket at one fixed path per user, which two servers (make
# serve and a test) would fight over; nothing here uses it. Older versions ignore the name.
control_socket_disable = True


def post_worker_init(worker) -> None:
    """After the worker loaded the application: import the URLconf (every view module), then
    move everything alive to the garbage collector's permanent generation (``gc.freeze``).

    Why: the loaded project is ~234,000 tracked objects, and a full (generation 2) collection
    walked them all in ~110 ms on the 2-core machine, stalling every thread of the worker; those
    stalls were the Slack ack's p99 (issue 10, ``benchmarks.slack_ack``). Frozen objects are never
    scanned, so a full collection only walks what requests allocate. The cost is that garbage
    among the frozen start-up objects is never freed, hence the ``gc.collect()`` first.
    """
    import gc
    import logging

    from django.apps import apps

    if apps.ready:  # not when the application failed to load (gunicorn then serves its error app)
        from django.urls import get_resolver

        try:
            get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on the first request
        except Exception:  # noqa: BLE001 - a broken view module fails its requests (500), as before, not the boot
            logging.getLogger("revops.gunicorn").exception("importing the URLconf at worker start failed")
    gc.collect()
    gc.freeze()
