"""`somo demo` on a fresh data directory migrates, seeds and serves /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_demo_serves_healthz_from_a_fresh_data_dir(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "QDRANT_URL")}
    env["SOMO_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "demo", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                body = r.json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert body == {"status": "ok"}, proc.stdout.read() if proc.poll() is not None else "no answer"
        r = httpx.post(f"http://127.0.0.1:{port}/webhooks/console", json={"phone": "+254700000009", "text": ""})
        assert r.status_code == 200 and r.json()["replies"]
        assert (tmp_path / "data" / "somo.db").exists()
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert "http://127.0.0.1:" in out and "demo school" in out
