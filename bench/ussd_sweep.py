"""USSD capacity: the highest open-loop rate at which the server's p99 stays under the aim.

Issue 10's aim is USSD p99 server time under 50 ms at a sustained 300 screens/s. When the
machine cannot complete 300 screens a second, every request above capacity queues and p99
at 300/s only says "seconds". This sweep answers the useful question beside it: up to which
rate does p99 hold? Same stack and students as `bench.flow` phase 2 (uvicorn with uvloop +
httptools, real PostgreSQL and Redis, Africa's Talking USSD form posts from
`bench/scenario.py`: onboarding, the menu and a Teach lesson, `--think` seconds between a
student's steps); every rate starts with new students, whose steps in a 10 s run are all
onboarding (the heaviest: a learner and a first state are created). `--returning` measures
the steady state instead: a setup run (not measured) takes each rate's students through
onboarding into a Teach lesson, and the measured sessions continue it. Rates go up until
p99 breaks the aim twice in a row.

Those students walk in step: every one of them sends its first dial in the same two
seconds, then its name, and so on, so the costliest screens (a first dial makes the learner
and its first state; a lesson's start) arrive all together. `--staggered` sends the same
sessions started one after another, as dials reach a real service (`scenario.ussd_staggered`),
and measures once every screen of the script is in flight in equal shares.

    .venv/bin/python -m bench.ussd_sweep [--rates 50,100,150,200,250,300] [--seconds 10] [--returning | --staggered]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

from bench import loadgen, scenario
from bench.stack import (
    ROOT,
    cpu_seconds_of,
    drop_database,
    free_port,
    fresh_database,
    group_pids,
    host_cpu,
    host_cpu_use,
    postgres_backends,
    start,
    start_uvicorn,
    stop,
)

REDIS = os.environ.get("BENCH_SWEEP_REDIS_URL", "redis://127.0.0.1:6379/10")
AIM_P99_MS = 50.0


def _env(db_url: str, data_dir: str) -> dict[str, str]:
    return dict(os.environ, DATABASE_URL=db_url, REDIS_URL=REDIS, SOMO_DATA_DIR=data_dir, LOG_LEVEL="WARNING",
                SOMO_ENV="development", PYTHONPATH=str(ROOT), AT_WEBHOOK_TOKEN=scenario.TOKEN, AT_API_KEY="bench",
                AT_USERNAME="bench", RATE_LIMIT_PER_MINUTE="60")


_next_student = [0]


def one_rate(port: int, rate: float, seconds: float, think: float, api=None, database: str = "",
             returning: bool = False, staggered: bool = False) -> dict:
    run = uuid.uuid4().hex[:6]
    if staggered:
        return _staggered(port, run, rate, seconds, think, api, database)
    students = max(1, int(rate * think))
    first, _next_student[0] = _next_student[0], _next_student[0] + students  # new students every run
    answers = scenario.USSD_ANSWERS
    if returning:  # not measured: these students onboard and start a lesson, twice the rate
        asyncio.run(loadgen.open_loop(port, scenario.ussd_request(run + "s", students, first), rate=2 * rate,
                                      seconds=scenario.INTO_LESSON * students / (2 * rate)))
        answers = scenario.USSD_RETURNING
    api_pids = group_pids(api) if api is not None else []
    api_cpu = cpu_seconds_of(api_pids)
    per_worker = {pid: cpu_seconds_of([pid]) for pid in api_pids}
    pg_cpu = {pid: cpu_seconds_of([pid]) for pid in postgres_backends(database)} if database else {}
    host = host_cpu()
    res = asyncio.run(loadgen.open_loop(port, scenario.ussd_request(run, students, first, answers), rate=rate, seconds=seconds))
    host = host_cpu_use(host, host_cpu())
    done = max(1, len(res.samples))
    # CPU per screen: the API workers', and PostgreSQL's (the backends serving the scratch
    # database; one that opened during the run counts whole, one that closed counts nothing).
    pg_now = sum(cpu_seconds_of([pid]) - pg_cpu.get(pid, 0.0) for pid in postgres_backends(database)) if database else 0
    cpu = {"api_cpu_ms_per_screen": round((cpu_seconds_of(api_pids) - api_cpu) * 1000 / done, 2),
           "pg_cpu_ms_per_screen": round(pg_now * 1000 / done, 2),
           # each API worker's share of one core over the run: one GIL each, so a worker near 1.0
           # is saturated whatever the others do
           "api_worker_core_share": sorted((round((cpu_seconds_of([pid]) - before) / max(res.elapsed_s, 1e-9), 2)
                                            for pid, before in per_worker.items()), reverse=True)} if api_pids else {}
    server = [s.server_ms for s in res.samples if s.server_ms is not None]
    ok = sum(1 for s in res.samples if s.status == 200)
    # What the measured steps were: lesson screens ("Step 2/6 ...", "Continue ...") or not
    # (onboarding and menus); a returning run that shows few of them did not reach the lessons.
    lesson = sum(1 for s in res.samples if "Step " in s.answer or "Continue" in s.answer)
    return {"offered_per_s": rate, "completed_per_s": round(len(res.samples) / res.elapsed_s, 1) if res.elapsed_s else 0,
            "ok": ok, "errors": res.errors, "generator_max_lag_ms": round(res.max_lag_ms, 1),
            "lesson_screen_share": round(lesson / max(1, len(res.samples)), 2),
            **{f"server_{p}_ms": loadgen.pct(server, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))}, **cpu,
            "host_cpu": host}


def _staggered(port: int, run: str, rate: float, seconds: float, think: float, api, database: str) -> dict:
    """`scenario.ussd_staggered`: sessions start one after another; what is measured is the
    `seconds` after the ramp, when every screen of the script is in flight in equal shares."""
    make, schedule, ramp = scenario.ussd_staggered(run, rate, seconds, think=think, first=_next_student[0])
    _next_student[0] += int(rate / 10 * (ramp + seconds)) + 1
    api_pids = group_pids(api) if api is not None else []

    async def measured():
        # CPU read at the ramp's end and at the run's, from inside the run
        marks: dict = {}

        async def mark(name: str, at: float) -> None:
            await asyncio.sleep(at)
            marks[name] = (time.perf_counter(), cpu_seconds_of(api_pids),
                           {p: cpu_seconds_of([p]) for p in postgres_backends(database)} if database else {}, host_cpu())

        timer = asyncio.gather(mark("from", ramp), mark("to", ramp + seconds))
        res = await loadgen.open_loop(port, make, rate=rate, seconds=ramp + seconds, schedule=schedule)
        await timer
        return res, marks

    res, marks = asyncio.run(measured())
    kept = [x for x in res.samples if schedule[x.index] >= ramp]
    server = [x.server_ms for x in kept if x.server_ms is not None]
    (t0, api0, pg0, host0), (t1, api1, pg1, host1) = marks["from"], marks["to"]
    done = max(1, sum(1 for i in schedule if ramp <= i < ramp + seconds))
    pg_cpu = sum(v - pg0.get(p, 0.0) for p, v in pg1.items())
    return {"offered_per_s": rate, "staggered": True, "ramp_s": ramp,
            "completed_per_s": round(len(kept) / seconds, 1), "ok": sum(1 for x in kept if x.status == 200),
            "errors": res.errors, "generator_max_lag_ms": round(res.max_lag_ms, 1),
            "lesson_screen_share": round(sum(1 for x in kept if "Step " in x.answer or "Continue" in x.answer)
                                         / max(1, len(kept)), 2),
            **{f"server_{p}_ms": loadgen.pct(server, q) for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
            "api_cpu_ms_per_screen": round((api1 - api0) * 1000 / done, 2) if api_pids else None,
            "pg_cpu_ms_per_screen": round(pg_cpu * 1000 / done, 2) if database else None,
            "measured_s": round(t1 - t0, 1), "host_cpu": host_cpu_use(host0, host1)}


def run(rates: list[float], seconds: float, think: float, api_workers: int, returning: bool = False,
        staggered: bool = False) -> dict:
    db_url = fresh_database("somo_bench_sweep")
    r = redis.Redis.from_url(REDIS)
    r.flushdb()
    data_dir = Path(tempfile.mkdtemp(prefix="somo-bench-sweep-"))
    env = _env(db_url, str(data_dir))
    api = None
    out: dict = {"bench": "ussd_sweep", "aim_p99_ms": AIM_P99_MS, "seconds": seconds, "think_s": think,
                 "api_workers": api_workers, "returning": returning, "staggered": staggered, "load_average_at_start": os.getloadavg()[0],
                 "rates": []}
    try:
        load = start([sys.executable, "-m", "gateway.cli", "curriculum", "import",
                      *map(str, sorted((ROOT / "rag" / "samples").glob("*.yaml")))], env, data_dir / "import.log")
        if load.wait(timeout=300) != 0:
            raise RuntimeError(f"curriculum import failed; see {data_dir / 'import.log'}")
        port = free_port()
        api = start_uvicorn("bench.webhooks:make_gateway_app", port, env, workers=api_workers,
                            log_path=data_dir / "api.log")
        one_rate(port, 20, 3, think)  # warm-up: imports, first connections
        # ... then at the first rate, so the pools have grown and every connection has its
        # prepared statements before anything is measured (the first rate measured cold was
        # always the worst: seconds of p99 at rates that hold warm).
        one_rate(port, rates[0], 4, think, returning=returning)
        misses = 0
        for rate in rates:
            result = one_rate(port, rate, seconds, think, api, db_url.rsplit("/", 1)[1], returning, staggered)
            result["load_average"] = os.getloadavg()[0]
            result["p99_under_aim"] = result["server_p99_ms"] is not None and result["server_p99_ms"] < AIM_P99_MS
            out["rates"].append(result)
            print(json.dumps(result), flush=True)
            misses = 0 if result["p99_under_aim"] else misses + 1
            if misses >= 2:
                break
            time.sleep(2)  # let the queue of the previous rate drain
        held = [x["offered_per_s"] for x in out["rates"] if x["p99_under_aim"]]
        out["highest_rate_p99_under_aim"] = max(held) if held else None
    finally:
        if api is not None:
            stop(api)
        r.flushdb()
        drop_database(db_url)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.ussd_sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,150,200,250,300", help="screens/s, comma-separated, rising")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=2.0)
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--returning", action="store_true",
                        help="students already in a lesson (a setup run, not measured, onboards them), "
                             "continuing it: the steady state, where the default is every student's first dial")
    parser.add_argument("--staggered", action="store_true",
                        help="new students' sessions started one after another (rate/10 a second), measured "
                             "after a ramp of 10 x think s: every screen of the script in flight in equal shares, "
                             "where the default has every student on the same screen at once")
    args = parser.parse_args(argv)
    try:
        rates = [float(x) for x in args.rates.split(",") if x.strip()]
    except ValueError:
        parser.error(f"--rates: not a list of numbers: {args.rates!r}")
    if not rates or any(x <= 0 for x in rates):
        parser.error("--rates: give at least one rate above 0")
    if args.staggered and args.returning:
        parser.error("--staggered and --returning: choose one")
    result = run(rates, args.seconds, args.think, args.api_workers, args.returning, args.staggered)
    print(f"USSD: p99 under {AIM_P99_MS:.0f} ms up to {result['highest_rate_p99_under_aim']} screens/s offered "
          f"({'returning students in a lesson' if args.returning else 'new students'}; {args.api_workers} API workers; load average {result['load_average_at_start']:.1f} at the start)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
