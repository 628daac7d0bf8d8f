"""What FastAPI's routing costs a USSD step: the app as served against the same app with its
direct routes taken out (`gateway.webhooks_africastalking.DirectRoute`), in one process.

Both apps share one runtime (`bench.ussd_profile.scratch_runtime`: a scratch PostgreSQL database, Redis db 13) and are called
directly over ASGI, the webhook's threadpool hop included. On every round of the USSD script
(dial, onboarding, the menu, a Teach lesson) the students are split between them, alternating,
so both see the same screens and the same moments of a noisy machine: CPU per request (this
process, every thread) for each.

    .venv/bin/python -m bench.route_ab [--students 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from urllib.parse import urlencode

from bench.inbound_profile import _post
from bench.ussd_profile import SCRIPT, scratch_runtime

WARM_UP = 10  # the first students of each round are not counted


def run(students: int) -> dict:
    from gateway.app import create_app
    from gateway.webhooks_africastalking import DirectRoute

    with scratch_runtime("somo_bench_route", rate_limit_per_minute=100, at_webhook_token="bench-token") as (rt, _):
        apps = {"direct": create_app(rt), "fastapi": create_app(rt)}
        apps["fastapi"].router.routes[:] = [r for r in apps["fastapi"].router.routes if not isinstance(r, DirectRoute)]
        cpu: dict[str, list[float]] = {name: [] for name in apps}
        sessions = [f"ATUid_route_{uuid.uuid4().hex[:6]}_{i}" for i in range(students)]

        async def go() -> None:
            for n, step in enumerate(SCRIPT):
                for i in range(students):
                    name = ("direct", "fastapi")[(i + n) % 2]
                    body = urlencode({"sessionId": sessions[i], "serviceCode": "*384*1#",
                                      "phoneNumber": f"+2547229{i:05d}", "networkCode": "63902",
                                      "text": "*".join(step)}).encode()
                    c0 = time.process_time()
                    code = await _post(apps[name], "/webhooks/africastalking/ussd", "token=bench-token", body)
                    spent = (time.process_time() - c0) * 1000
                    if code != 200:
                        raise RuntimeError(f"the USSD webhook answered {code}")
                    if i >= WARM_UP:
                        cpu[name].append(spent)

        asyncio.run(go())
        out = {name: {"requests": len(v), "cpu_ms_mean": round(statistics.fmean(v), 3),
                      "cpu_ms_median": round(statistics.median(v), 3)} for name, v in cpu.items()}
        return {"bench": "route_ab", "students": students, **out,
                "saved_ms_mean": round(out["fastapi"]["cpu_ms_mean"] - out["direct"]["cpu_ms_mean"], 3),
                "saved_ms_median": round(out["fastapi"]["cpu_ms_median"] - out["direct"]["cpu_ms_median"], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.route_ab")
    parser.add_argument("--students", type=int, default=200)
    args = parser.parse_args(argv)
    if args.students <= WARM_UP:
        parser.error(f"--students: more than {WARM_UP} (the first {WARM_UP} of each round warm up)")
    result = run(args.students)
    print(f"USSD request CPU in-process: direct routes {result['direct']['cpu_ms_mean']} ms mean "
          f"({result['direct']['cpu_ms_median']} median), through FastAPI's router "
          f"{result['fastapi']['cpu_ms_mean']} ({result['fastapi']['cpu_ms_median']})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
