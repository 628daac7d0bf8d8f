"""Ops tests reuse the gateway's runtime with every provider pointed at test doubles."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.gateway.conftest import gw_rt  # noqa: F401 - a fixture, re-exported for tests/ops


@pytest.fixture
def at_client(gw_rt):  # noqa: F811 - the fixture above
    with TestClient(create_app(gw_rt), client=("196.201.214.200", 50000)) as c:
        yield c
