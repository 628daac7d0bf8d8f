"""Retention: blank the text of messages (and typed practice answers) older than
MESSAGE_RETENTION_DAYS, keeping every row, so counts, statuses, segments, costs and progress
figures stay true while what a student wrote is gone.

Provider events (raw delivery receipts, USSD session ends, opt-outs) older than the cutoff
are deleted: their payloads hold the phone number and USSD input, and what they said is
already applied to the message and contact rows. Recent ones stay, so a repeated callback
is still skipped and an early receipt still waits for its send. A provider's retry that
comes after its event is gone (Meta retries for up to 7 days) is recorded anew; a status
only moves forward, so it changes nothing.

Run it from cron (`somo retention`), or let `somo worker` keep a daily job on the rq
scheduler (`purge_and_reschedule`). Each run is recorded in the audit log. Rows are blanked
in batches, so a first run over a large backlog does not hold one long transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, null, or_, select, true, update

from core import clock
from core.models import AuditLog, Message, PracticeAttempt, ProviderEvent
from core.runtime import Runtime, get_runtime

BATCH = 2000
PURGED = ""  # what the text becomes; rows keep their other columns
EVERY = timedelta(days=1)


@dataclass
class Purged:
    cutoff: datetime
    messages: int = 0
    answers: int = 0
    provider_events: int = 0  # deleted, not blanked


def purge(runtime: Runtime, *, days: int | None = None, dry_run: bool = False) -> Purged | None:
    """Blank text, and delete provider events, older than `days` (default: the setting).
    None when retention is off (0)."""
    days = runtime.settings.message_retention_days if days is None else days
    if days <= 0:
        return None
    result = Purged(cutoff=clock.now() - timedelta(days=days))
    result.messages = _in_batches(runtime, Message, result.cutoff, dry_run,
                                  or_(Message.text != PURGED, Message.payload.is_not(None)),
                                  lambda ids: update(Message).where(Message.id.in_(ids))
                                  .values(text=PURGED, payload=null()))  # SQL NULL, not JSON null
    result.answers = _in_batches(runtime, PracticeAttempt, result.cutoff, dry_run,
                                 PracticeAttempt.answer_given != PURGED,
                                 lambda ids: update(PracticeAttempt).where(PracticeAttempt.id.in_(ids))
                                 .values(answer_given=PURGED))
    result.provider_events = _in_batches(runtime, ProviderEvent, result.cutoff, dry_run, true(),
                                         lambda ids: delete(ProviderEvent).where(ProviderEvent.id.in_(ids)))
    if not dry_run:
        with runtime.session() as session:
            session.add(AuditLog(actor="system", action="retention.purge", object_type="messages",
                                 after={"days": days, "cutoff": result.cutoff.isoformat(),
                                        "messages": result.messages, "answers": result.answers,
                                        "provider_events": result.provider_events}))
    return result


def _in_batches(runtime: Runtime, model, cutoff: datetime, dry_run: bool, still_has_text, change) -> int:
    """Apply `change(ids)` to the rows older than `cutoff` that still hold something, BATCH
    at a time, each batch its own transaction; returns how many (would have) changed."""
    total, last = 0, 0
    while True:
        with runtime.session() as session:
            ids = session.scalars(
                select(model.id).where(model.created_at < cutoff, still_has_text, model.id > last)
                .order_by(model.id).limit(BATCH)
            ).all()
            if not ids:
                return total
            total += len(ids)
            if dry_run:
                return total + _count_rest(session, model, cutoff, still_has_text, ids[-1])
            session.execute(change(ids).execution_options(synchronize_session=False))
            last = ids[-1]  # always forward, whatever a row looks like afterwards


def _count_rest(session, model, cutoff: datetime, still_has_text, after_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(
        model.created_at < cutoff, still_has_text, model.id > after_id)) or 0)


def purge_and_reschedule() -> None:
    """The daily job `somo worker` seeds (one job per day slot, however many workers start)."""
    runtime = get_runtime()
    purge(runtime)
    if runtime.queue.is_async:
        at = clock.now() + EVERY
        runtime.queue.enqueue("core.retention.purge_and_reschedule", queue="low", at=at,
                              job_id=f"retention-{at:%Y%m%d}")


def cmd_retention(args) -> int:
    from gateway.cli import CliError

    runtime = get_runtime()
    if args.days is not None and args.days < 1:
        raise CliError(f"--days: {args.days} is not a number of days (1 or more)")
    result = purge(runtime, days=args.days, dry_run=args.dry_run)
    if result is None:
        print("retention is off (MESSAGE_RETENTION_DAYS=0): nothing purged")
        return 0
    blank, drop = ("would blank", "would delete") if args.dry_run else ("blanked", "deleted")
    print(f"{blank} the text of {result.messages} message(s) and {result.answers} typed answer(s), and {drop} "
          f"{result.provider_events} provider event(s), older than {result.cutoff:%Y-%m-%d %H:%M} UTC; "
          "message rows and counts kept")
    return 0


def register(sub) -> None:
    p = sub.add_parser("retention", help="blank message text and delete provider events older than "
                                          "MESSAGE_RETENTION_DAYS (message rows and counts stay)")
    p.add_argument("--days", type=int, default=None, help="override MESSAGE_RETENTION_DAYS for this run")
    p.add_argument("--dry-run", action="store_true", help="count what would be blanked or deleted, change nothing")
    p.set_defaults(func=cmd_retention)
