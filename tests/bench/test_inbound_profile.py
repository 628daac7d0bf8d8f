"""The in-process inbound profile runs at a tiny size and holds the hot path's budget:
one Redis round trip and one SQL statement per SMS webhook (first or returning contact:
on PostgreSQL the contact and the message are one autocommitted statement), one rq job per
inbound message (its replies are sent from that job), every reply handed to the provider."""

from __future__ import annotations

import pytest

from tests.bench.run import bench_json


@pytest.mark.timeout(120)
def test_inbound_profile_runs_and_keeps_the_budget():
    result = bench_json("inbound_profile", "--messages", "50", timeout=110)
    returning, first = result["route"]["returning"], result["route"]["first contact"]
    assert returning["example_redis"] == {"EVALSHA": 1} and returning["redis"] == 1.0
    assert returning["sql"] == 1.0 and first["sql"] == 1.0
    assert returning["example_sql"] == {"WITH": 1}
    assert returning["cpu_ms_mean"] > 0
    drain = result["drain"]
    assert drain["jobs"] == {"process_contact": 50} and drain["jobs_per_inbound"] == 1.0
    assert drain["outbound_by_status"] and set(drain["outbound_by_status"]) == {"sent"}
    assert 0 < drain["sql_per_inbound"] < 20
