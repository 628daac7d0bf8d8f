"""`somo tick`: reminders, weekly teacher digests and parent SMS, each at most once per period.

Run it from cron or a Kubernetes CronJob (hourly is plenty); it is safe to run more often.
`somo tick --loop` keeps re-scheduling itself on the rq scheduler instead.
"""

from __future__ import annotations


def cmd_tick(args) -> int:
    from conversation.teachers.digest import tick, tick_and_reschedule
    from core.runtime import get_runtime

    if args.loop:
        if get_runtime().redis is None:
            from gateway.cli import CliError

            raise CliError("--loop needs REDIS_URL (the rq scheduler); without it run `somo tick` from cron")
        tick_and_reschedule()
        print("tick scheduled hourly on the rq scheduler")
        return 0
    counts = tick()
    print(", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return 0


def register(sub) -> None:
    p = sub.add_parser("tick", help="send due reminders, weekly teacher digests and parent SMS")
    p.add_argument("--loop", action="store_true", help="re-schedule hourly on the rq scheduler")
    p.set_defaults(func=cmd_tick)
