"""Test settings: django-q2 runs tasks in-process (override_settings does not reach Q_CLUSTER)."""

from revops.settings import *  # noqa: F401,F403
from revops.settings import Q_CLUSTER, STORAGES

Q_CLUSTER = {**Q_CLUSTER, "sync": True}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOW_HTTP_LOOPBACK_CALLBACKS = True
SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there; tests point it at a fake
# No collectstatic before tests: the manifest storage would refuse every {% static %} tag.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
READYZ_REQUIRE_WORKER = False  # tests that need a worker start one
SLACK_ENDPOINT_CACHE_SECONDS = 0.0  # tests change credentials between requests; the TTL has its own test

# One test database per pytest process, so concurrent runs on the shared embedded server (two
# developers' shells, an editor's test runner) never drop each other's database.
import os as _os

from revops.settings import DATABASES

DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{_os.getpid()}"}
