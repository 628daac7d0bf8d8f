"""`somo serve --workers 2`: /metrics adds up the counters of every uvicorn worker."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import make_runtime
from tests.ops.scrape import Scrape
from tests.ops.test_worker import _free_port

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 8


def _wait_up(base: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"somo serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError(f"somo serve did not answer /healthz within {timeout}s")


def test_two_api_workers_report_one_merged_set_of_counters(db_url, tmp_path):
    make_runtime(db_url, tmp_path=tmp_path).close()  # empty tables
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "QDRANT_URL")}
    env.update(DATABASE_URL=db_url, SOMO_DATA_DIR=str(tmp_path), LOG_LEVEL="WARNING")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, proc)
        for i in range(REQUESTS):
            with httpx.Client(timeout=30) as client:  # a new connection each time, so both workers take some
                r = client.post(f"{base}/webhooks/console", json={"phone": f"+2547123456{i:02d}", "text": "hi"})
                assert r.status_code == 200, r.text
        body = httpx.get(f"{base}/metrics", timeout=30).text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    result = Scrape(body)
    assert result.value("somo_webhook_seconds_count", route="/webhooks/console") == REQUESTS
    assert result.value("somo_inbound_messages_total", channel="sms", provider="console", status="stored") == REQUESTS
    assert result.value("somo_http_requests_total", route="/webhooks/console", method="POST", code="200") == REQUESTS
    assert result.has("somo_active_students")  # read from the database at scrape time, by either worker
    assert result.value("somo_active_students") == _active_in_db(db_url)
    files = list((tmp_path / "prometheus-multiproc").glob("*.db"))
    pids = {re.search(r"_(\d+)\.db$", f.name).group(1) for f in files}
    assert len(pids) >= 2, f"expected files from both workers, found {sorted(f.name for f in files)}"


def _active_in_db(db_url: str) -> int:
    from sqlalchemy import create_engine, func, select

    from core.models import Student
    from core.settings import normalise_db_url

    engine = create_engine(normalise_db_url(db_url))
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count(Student.id)).where(Student.last_active_at.is_not(None))).scalar()
    finally:
        engine.dispose()
