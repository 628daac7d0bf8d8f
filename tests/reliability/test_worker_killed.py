"""A worker killed with SIGKILL in the middle of a job: `somo worker` runs as a real process
(its own session, killed as a whole like a pod), against PostgreSQL, Redis and a loopback
Africa's Talking. After the kill `gateway.jobs.sweep` and a fresh worker take over, and the
student sees exactly one reply."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from core import clock
from core.models import Direction, Message
from core.runtime import use_runtime
from gateway.app import create_app
from gateway.jobs import sweep
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS, fixture
from tests.reliability.conftest import AT_TOKEN, FORM, sms_form
from tests.reliability.fake_provider import FakeAfricasTalking
from tests.reliability.ledger import ledger

SOMO = str(Path(sys.executable).with_name("somo"))


def worker_env(pg_url: str, redis_url: str, provider_url: str, data_dir) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME", "LANG")}
    env.update({k.upper(): str(v) for k, v in PROVIDER_SETTINGS.items()})
    env.update(DATABASE_URL=pg_url, REDIS_URL=redis_url, AT_API_BASE=provider_url, SOMO_DATA_DIR=str(data_dir),
               SEND_RATE_PER_SECOND="0", PYTHONFAULTHANDLER="1")  # SIGABRT prints every thread's stack
    return env


def start_worker(env, cwd, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([SOMO, "worker", "--no-scheduler", *extra], env=env, cwd=cwd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def wait_for_exit(proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """A burst worker exits 0 once the queues are empty. One that does not is aborted, so that
    the failure shows where each of its threads was (faulthandler), then killed."""
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        kill(proc)
        stacks = proc.stderr.read().decode()[-6000:]
        raise AssertionError(f"the burst worker did not exit within {timeout:.0f}s; its threads:\n{stacks}") from None
    assert code == 0, proc.stderr.read().decode()[-2000:]


def wait_for(check, what: str, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def blocked(engine, worker: subprocess.Popen) -> int:
    """Sessions waiting on a lock (read outside the blocking transaction: stats are per-transaction snapshots)."""
    assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )).scalar()


@pytest.fixture
def setup(pg_url, redis_url, tmp_path):
    rt = make_runtime(pg_url, redis_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    with use_runtime(rt):
        yield rt
    rt.redis.flushdb()
    rt.close()


def receive_sms(rt, phone="+254711000401", mid="ATPid_kill") -> int:
    with TestClient(create_app(rt), client=("196.201.214.200", 1)) as client:
        res = client.post("/webhooks/africastalking/sms" + AT_TOKEN, content=sms_form(phone, "Hello", mid), headers=FORM)
    assert res.status_code == 200
    with rt.session() as s:
        return s.scalar(select(Message.id).where(Message.provider_message_id == mid))


def sweep_as_if_later() -> dict[str, int]:
    clock.freeze(clock.now() + timedelta(minutes=3))
    try:
        return sweep()
    finally:
        clock.freeze(None)


def test_worker_killed_while_handling_a_message_runs_it_again_and_the_student_gets_one_reply(setup, pg_url, redis_url,
                                                                                            tmp_path):
    """The worker is blocked mid-transaction (the test holds the inbound row's lock), then killed:
    PostgreSQL rolls its work back, the sweep queues the row again, a new worker answers once."""
    rt = setup
    with FakeAfricasTalking(fixture("africastalking:send_answer")) as provider:
        env = worker_env(pg_url, redis_url, provider.url, tmp_path)
        message_id = receive_sms(rt)
        blocker = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
        conn = blocker.connect()
        worker = None
        try:
            conn.execute(text("SELECT id FROM messages WHERE id = :id FOR UPDATE"), {"id": message_id})
            worker = start_worker(env, tmp_path)
            wait_for(lambda: blocked(blocker, worker), "the worker to block on the inbound row")
            kill(worker)
        finally:
            if worker is not None:
                kill(worker)
            conn.rollback()
            conn.close()
            blocker.dispose()
        killed = ledger(rt, provider.bodies).show("worker killed mid-handling")
        assert (killed.inbound_stored, killed.inbound_handled, killed.replies_sent, len(provider.bodies)) == (1, 0, 0, 0)

        # The dead worker's contact lock lives out its TTL (60 s); shortened here so the test need not wait.
        (lock_key,) = rt.redis.keys("somo:lock:contact:*")
        assert 0 < rt.redis.pttl(lock_key) <= 60_000
        rt.redis.pexpire(lock_key, 1)
        time.sleep(0.05)
        assert sweep_as_if_later() == {"inbound": 1, "outbound": 0}
        second = start_worker(env, tmp_path, "--burst")
        try:
            wait_for_exit(second)
        finally:
            kill(second)
        after = ledger(rt, provider.bodies).show("after a new worker")
        assert (after.inbound_stored, after.inbound_handled) == (1, 1)
        assert after.replies_sent == len(provider.bodies) >= 1 and after.replies_pending == 0
        assert after.duplicates_sent == 0


def test_worker_killed_during_a_send_never_sends_it_twice(setup, pg_url, redis_url, tmp_path):
    """Killed while the provider holds the send request: the provider may have accepted it, so
    the row stays `sending`, the sweep leaves it alone and no later worker sends it again."""
    rt = setup
    with FakeAfricasTalking(fixture("africastalking:send_answer"), delay_s=30) as provider:
        env = worker_env(pg_url, redis_url, provider.url, tmp_path)
        receive_sms(rt, "+254711000402", "ATPid_kill_send")
        worker = start_worker(env, tmp_path)
        try:
            assert provider.arrived.wait(60), "the worker never called the provider"
            kill(worker)
        finally:
            kill(worker)
        provider.delay_s = 0
        assert sweep_as_if_later()["outbound"] == 0  # `sending` is never re-queued
        second = start_worker(env, tmp_path, "--burst")
        try:
            wait_for_exit(second)
        finally:
            kill(second)
        counts = ledger(rt, provider.bodies).show("worker killed mid-send")
        assert counts.inbound_stored == counts.inbound_handled == 1
        assert len(provider.bodies) == 1 and counts.duplicates_sent == 0
        with rt.session() as s:
            statuses = s.scalars(select(Message.status).where(Message.direction == Direction.OUT.value)).all()
        assert statuses.count("sending") == 1  # the one in flight: for the operator to reconcile
