"""Generated requests from the hub's own OpenAPI document never make it answer 5xx.

Schemathesis reads /api/schema/ and sends valid and invalid requests to every operation,
as a provider and as a trace writer (the only role that may post traces), each with an
API token, with a real draft's id in the path.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings

from hub import services as hub_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def keep_test_connection():
    """Requests go straight to the WSGI app; like Django's test client, keep the end of each
    request from closing the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.parametrize("who", ["provider", "trace writer"])
def test_no_operation_answers_a_server_error(make_dataset, provider_a, keep_test_connection, who):
    draft = make_dataset()
    token = (
        hub_services.create_api_token(username=provider_a.username)
        if who == "provider"
        else hub_services.create_api_token(username="fuzz-tool", machine_role="trace_writer")
    )
    headers = {"Authorization": "Token " + token}
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/healthz":
            continue  # reaches the broker; covered in hub/tests/test_views.py

        @given(case=operation.as_strategy())
        @settings(
            max_examples=12,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case):
            nonlocal tried
            if case.path_parameters and "pk" in case.path_parameters:
                case.path_parameters["pk"] = str(draft.pk)
            response = case.call(headers=headers)
            tried += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        call()
    assert tried > 100
    assert failures == []
