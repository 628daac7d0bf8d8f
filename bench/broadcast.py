"""Broadcast fan-out at scale: `python -m bench.broadcast [--students 10000] [--rate 200] [--workers 2]`.

Enrols N students in one class on a scratch PostgreSQL database, points Twilio at a mock
provider on loopback (127.0.0.1 only), and measures
- the time to fan out (resolve recipients, store one outbound row each, enqueue the sends);
- the sustained send rate of `--workers` rq workers (SimpleWorker processes, with the
  scheduler, since throttled sends come back on it) against the configured limit
  `SEND_RATE_PER_SECOND` (per provider and sender);
- that every student got exactly one message.
Bounded: it stops after `--timeout` seconds whatever happens.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
SID = "AC" + "b" * 32


class _Provider(BaseHTTPRequestHandler):
    """Twilio's Messages.json, answered at once; counts who got what."""

    calls: dict[str, int] = {}
    lock = threading.Lock()
    ids = itertools.count()

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        to = parse_qs(body).get("To", ["?"])[0]
        with self.lock:
            self.calls[to] = self.calls.get(to, 0) + 1
            sid = f"SM{next(self.ids):032d}"
        payload = json.dumps({"sid": sid, "status": "queued", "to": to, "account_sid": SID}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def _scratch_db() -> tuple[str, callable]:
    name = f"somo_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name

    def drop():
        try:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except OperationalError as exc:
            print(f"could not drop {name}: {exc.orig}", file=sys.stderr)
        admin.dispose()

    return url, drop


def _enrol(rt, n: int) -> int:
    from core.models import ClassTeacher, Contact, Enrolment, School, SchoolClass, StaffUser, Student

    with rt.session() as s:
        school = School(name="Bench School", country="KE")
        s.add(school)
        s.flush()
        klass = SchoolClass(school_id=school.id, name="6B", grade=6, join_code="BENCH1")
        teacher = StaffUser(name="T", phone="+254722999999", role="teacher", school_id=school.id)
        s.add_all([klass, teacher])
        s.flush()
        s.add(ClassTeacher(class_id=klass.id, staff_user_id=teacher.id))
        s.execute(insert(Contact), [{"phone": f"+2547{i:08d}", "country": "KE", "channels_seen": ["sms"],
                                     "opted_out": False} for i in range(n)])
        ids = list(s.scalars(select(Contact.id).order_by(Contact.id)))
        s.execute(insert(Student), [{"contact_id": cid, "school_id": school.id, "name": f"S{i}", "language": "en",
                                     "preferred_channel": "sms", "onboarded": True} for i, cid in enumerate(ids)])
        sids = list(s.scalars(select(Student.id)))
        s.execute(insert(Enrolment), [{"student_id": sid, "class_id": klass.id} for sid in sids])
        return klass.id


def run(students: int, rate: float, workers: int, timeout: float) -> dict:
    from conversation.broadcasts import run_broadcast
    from core.migrate import upgrade
    from core.models import Broadcast, Message, SchoolClass, StaffUser
    from core.runtime import build_runtime, set_runtime
    from core.settings import Settings

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    db, drop = _scratch_db()
    env = {**os.environ, "DATABASE_URL": db, "REDIS_URL": REDIS, "TWILIO_ACCOUNT_SID": SID,
           "TWILIO_AUTH_TOKEN": "bench", "TWILIO_API_BASE": base, "TWILIO_SMS_FROM": "+15005550006",
           "AT_API_KEY": "", "SEND_RATE_PER_SECOND": str(rate), "LOG_LEVEL": "WARNING"}
    settings = Settings(_env_file=None, database_url=db, redis_url=REDIS, twilio_account_sid=SID,
                        twilio_auth_token="bench", twilio_api_base=base, twilio_sms_from="+15005550006",
                        send_rate_per_second=rate)
    procs: list[subprocess.Popen] = []
    try:
        upgrade(db)
        rt = build_runtime(settings)
        rt.redis.flushdb()
        set_runtime(rt)
        class_id = _enrol(rt, students)
        with rt.session() as s:
            klass = s.get(SchoolClass, class_id)
            teacher = s.scalar(select(StaffUser))
            b = Broadcast(school_id=klass.school_id, class_id=klass.id, created_by_id=teacher.id,
                          text="Exams start on Monday. Bring two pencils.", status="queued")
            s.add(b)
        t0 = time.perf_counter()
        run_broadcast(b.id)
        fan_out_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        for _ in range(workers):
            procs.append(subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        sent = 0
        first_sent = None
        while time.perf_counter() - t1 < timeout:
            time.sleep(0.5)
            try:
                with rt.session() as s:
                    sent = s.scalar(select(func.count()).select_from(Message).where(
                        Message.broadcast_id == b.id, Message.status == "sent")) or 0
            except OperationalError:  # PostgreSQL restarted under us (shared machine): poll again
                continue
            if sent and first_sent is None:
                first_sent = time.perf_counter()
            if sent >= students:
                break
        send_s = time.perf_counter() - t1
        calls = dict(_Provider.calls)
        return {
            "students": students, "workers": workers, "rate_limit_per_s": rate,
            "fan_out_s": round(fan_out_s, 2), "fan_out_per_s": round(students / fan_out_s, 1),
            "sent": sent, "send_s": round(send_s, 2), "send_rate_per_s": round(sent / send_s, 1) if send_s else 0,
            "share_of_limit": round((sent / send_s) / rate, 2) if send_s and rate else None,
            "provider_calls": sum(calls.values()), "students_reached": len(calls),
            "sent_twice": sum(1 for v in calls.values() if v > 1),
        }
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        server.shutdown()
        set_runtime(None)
        drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0, help="SEND_RATE_PER_SECOND for the run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    args, _ = parser.parse_known_args(argv)
    result = run(args.students, args.rate, args.workers, args.timeout)
    print("| figure | value |\n|---|---|")
    for k, v in result.items():
        print(f"| {k} | {v} |")
    return 0 if result["sent"] == args.students and result["sent_twice"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
