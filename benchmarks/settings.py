"""Settings of the benchmark servers: the production settings (``revops.settings``) with one URL
added, :data:`benchmarks.urls.TRIVIAL_PATH`, the trivial JSON view the issue-10 benchmarks compare
against. Never used outside ``benchmarks``."""

from revops.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
