"""Schemathesis against the OpenAPI of the webhook routes and /api/v1, in-process (ASGI),
with every provider configured and a valid API token: whatever it generates, no 500.

Webhook routes whose body is read raw (signed bytes) carry no body schema, so schemathesis
sends them what the schema allows (query, headers); their bodies are fuzzed with hypothesis
in tests/reliability/test_fuzz_webhooks.py. Examples per operation: the hypothesis profile
(SOMO_FUZZ_EXAMPLES; `make fuzz` runs many more), capped here to keep `make test` short.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from sqlalchemy import select

from admin import auth
from core.models import StaffUser
from core.runtime import set_runtime
from gateway.app import create_app
from tests.admin.conftest import World, world  # noqa: F401 - schools, classes, staff
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS

# 25 per operation in `make test`; SOMO_FUZZ_EXAMPLES (e.g. `make fuzz`) asks for more.
EXAMPLES = int(os.environ.get("SOMO_FUZZ_EXAMPLES", "25"))


@pytest.fixture
def rt(db_url, tmp_path):
    runtime = make_runtime(db_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    previous = set_runtime(runtime)
    yield runtime
    set_runtime(previous)
    runtime.close()


def api_schema(rt, world: World):  # noqa: F811
    with rt.session() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == world.a.admin_email))
        token, _ = auth.new_api_token(s, user, "schemathesis")
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(rt)), {"Authorization": f"Bearer {token}"}


def test_no_input_makes_a_server_error(rt, world):  # noqa: F811
    schema, auth_header = api_schema(rt, world)
    operations = [result.ok() for result in schema.get_all_operations()]
    paths = {op.path for op in operations}
    assert {"/webhooks/console", "/webhooks/africastalking/ussd", "/webhooks/whatsapp", "/api/v1/students",
            "/api/v1/broadcasts"} <= paths
    tried: dict[str, int] = {}
    for operation in operations:
        if not (operation.path.startswith("/webhooks/") or operation.path.startswith("/api/v1/")):
            continue

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            case.call_and_validate(checks=[not_a_server_error], headers=auth_header)
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1

        run()
    print(f"\nschemathesis: {sum(tried.values())} calls over {len(tried)} operations, no 5xx")
    assert len(tried) >= 15
