"""`somo`: the one console script for operators, content authors and the demo.

Every command exits non-zero with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

# Packages that add their own subcommands with `register(subparsers)`.
PLUGINS = ("rag.cli", "admin.cli", "conversation.cli", "conversation.teachers.cli", "core.retention")


class CliError(Exception):
    pass


def _fail(message: str) -> int:
    print(f"somo: {message}", file=sys.stderr)
    return 2


def cmd_db(args) -> int:
    from core.migrate import upgrade
    from core.settings import get_settings

    if args.action != "upgrade":
        raise CliError(f"unknown db action {args.action!r}; use: somo db upgrade")
    upgrade(get_settings().sqlalchemy_url)
    print("database is at the latest migration")
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from core.settings import get_settings
    from gateway.metrics import prepare_multiprocess

    prepare_multiprocess(args.workers, get_settings().somo_data_dir)  # metrics from every uvicorn worker
    uvicorn.run("gateway.main:app", host=args.host, port=args.port, workers=args.workers, log_level="warning",
                proxy_headers=True, forwarded_allow_ips="*")
    return 0


def cmd_worker(args) -> int:
    from core.observability import configure_logging
    from core.queue import QUEUES
    from core.runtime import get_runtime
    from core.worker import ObservedWorker
    from gateway.metrics import serve_worker_metrics

    rt = get_runtime()
    if rt.redis is None:
        raise CliError("REDIS_URL is not set: without Redis, jobs run in-process and no worker is needed")
    names = args.queues.split(",") if args.queues else list(QUEUES)
    unknown = [n for n in names if n not in QUEUES]
    if unknown:
        raise CliError(f"--queues: unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}")
    configure_logging(rt.settings)
    if args.metrics_port:
        try:
            serve_worker_metrics(args.metrics_port)
        except OSError as exc:
            raise CliError(f"--metrics-port {args.metrics_port}: {exc.strerror or exc}") from exc
    queues = [rt.queue.rq_queue(name) for name in names]
    if not args.burst:
        from gateway.jobs import sweep_and_reschedule

        sweep_and_reschedule()  # rows a crash or a Redis outage left unqueued; then every minute
        from core import clock

        # Message text past MESSAGE_RETENTION_DAYS, on the low queue; it re-schedules itself daily.
        rt.queue.enqueue("core.retention.purge_and_reschedule", queue="low",
                         job_id=f"retention-{clock.now():%Y%m%d}")
    worker = ObservedWorker(queues, connection=rt.redis)
    import channels.jobs  # noqa: F401 - the job modules, imported before the start-up heap is frozen
    import gateway.jobs  # noqa: F401
    from core import gctune
    from rag.warmup import warm_on_start

    warm_on_start(rt, "worker")  # the first question must not wait for the search index and the LLM client

    gctune.tune(rt.settings.gc_thresholds, where="worker")
    worker.work(with_scheduler=not args.no_scheduler, burst=args.burst, logging_level="WARNING")
    return 0


def cmd_enrol(args) -> int:
    from core.enrolment import CsvFormatError, import_rows, parse_csv
    from core.runtime import get_runtime

    path = Path(args.path)
    if not path.is_file():
        raise CliError(f"{path}: no such file")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    rt = get_runtime()
    try:
        result = parse_csv(text, default_country=rt.settings.default_country)
    except CsvFormatError as exc:
        raise CliError(f"{path}: {exc}") from exc
    with rt.session() as session:
        import_rows(session, result)
    for err in sorted(result.errors, key=lambda e: e.line):
        print(f"{path}:{err}", file=sys.stderr)
    print(
        f"imported {len(result.rows)} good row(s): {result.created_students} new student(s), "
        f"{result.created_teachers} new teacher(s), {result.created_enrolments} new enrolment(s), "
        f"{result.unchanged} unchanged; {len({e.line for e in result.errors})} bad row(s)"
    )
    return 1 if result.errors else 0


def cmd_chat(args) -> int:
    from gateway.chat import run_chat

    return run_chat(args.channel, args.phone, sys.stdin, sys.stdout)


def cmd_demo(args) -> int:
    from gateway.demo import run_demo

    return run_demo(host=args.host, port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="somo", description="Somo: a messaging-first tutor")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the API, admin and simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run an rq worker (with the scheduler)")
    p.add_argument("--queues", default="")
    p.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    p.add_argument("--metrics-port", type=int, default=0, help="serve this worker's /metrics on this port")
    p.add_argument("--no-scheduler", action="store_true",
                   help="leave delayed jobs and retries to the scheduler process (see docs/operations.md)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("db", help="database: somo db upgrade")
    p.add_argument("action", choices=["upgrade"])
    p.set_defaults(func=cmd_db)

    p = sub.add_parser("enrol", help="bulk enrolment from CSV")
    p.add_argument("path")
    p.set_defaults(func=cmd_enrol)

    p = sub.add_parser("chat", help="talk to Somo as a student in the terminal")
    p.add_argument("--channel", choices=["sms", "ussd", "whatsapp"], default="sms")
    p.add_argument("--phone", required=True)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("demo", help="embedded defaults, sample curriculum, demo school; serves on :8000")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_demo)

    for name in PLUGINS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
