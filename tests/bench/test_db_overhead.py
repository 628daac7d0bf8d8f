"""bench.db_overhead runs at a tiny size and reports every variant it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_db_overhead_reports_each_variant():
    services.require("PostgreSQL", services.PG_ADMIN_URL)
    proc = subprocess.run([sys.executable, "-m", "bench.db_overhead", "--rounds", "50"], cwd=ROOT,
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(result["unit_of_work_us"]) == {"session, checkout, rollback", "+ 1 statement", "+ 2 statements",
                                              "+ 1 statement, commit", "1 autocommitted statement"}
    assert set(result["statement_us"]) == {"Session.execute", "Connection.execute", "exec_driver_sql", "psycopg"}
    assert set(result["pending_row_us"]) == {"ORM (before round 5)", "Core, same columns", "Core + 3 ORM objects by hand",
                                            "driver + 3 objects (a turn now)"}
    for part in ("unit_of_work_us", "statement_us", "pending_row_us"):
        assert all(us > 0 for us in result[part].values()), result[part]
