"""Schemathesis: generated requests against every operation of the OpenAPI schema.

No request may make the server fail (5xx), and every documented answer must match the schema.
"""

import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# `make fuzz` asks for many more examples per operation, drawn at random each run (docs/security.md);
# the suite's default is a small, repeatable set.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "0")) or 25


@pytest.fixture
def key_header(api_key):
    """Present a valid key, and keep the test's database connection open across WSGI calls."""
    # Django's test client does the same: the request signals would close the connection that
    # holds the test's transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield {"X-API-Key": api_key[1]}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize="SCHEMATHESIS_EXAMPLES" not in os.environ,
)
@pytest.mark.django_db
def test_api_conforms_to_its_schema(case, key_header):
    case.call_and_validate(headers=key_header, checks=CHECKS)
