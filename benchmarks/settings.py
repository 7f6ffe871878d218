"""Benchmark settings: the production settings plus a URLconf with the bare baseline view."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.urls"
