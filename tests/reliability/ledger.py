"""The three counts every fault test prints and asserts: inbound stored, replies sent, duplicates sent.

"Replies sent" are outbound rows the provider accepted (status sent/delivered, or a USSD
screen, which is the HTTP answer itself); "duplicates sent" are provider calls beyond one per
outbound row, i.e. a text the student would have received twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import select

from core.models import Direction, Message

SENT = ("sent", "delivered", "read")


@dataclass
class Ledger:
    inbound_stored: int
    inbound_handled: int
    replies_sent: int
    replies_pending: int
    duplicates_sent: int

    def show(self, label: str) -> Ledger:
        print(f"\n[{label}] inbound stored={self.inbound_stored} handled={self.inbound_handled} "
              f"replies sent={self.replies_sent} pending={self.replies_pending} duplicates sent={self.duplicates_sent}")
        return self


def ledger(rt, sent_bodies: list[str] | None = None) -> Ledger:
    """Counts from the database; `sent_bodies` (texts the fake provider received) finds doubles."""
    with rt.session() as s:
        rows = s.execute(select(Message.direction, Message.status, Message.text)).all()
    inbound = [r for r in rows if r.direction == Direction.IN.value]
    outbound = [r for r in rows if r.direction == Direction.OUT.value]
    sent = [r for r in outbound if r.status in SENT]
    doubles = 0
    if sent_bodies is not None:
        # Each text the provider got more often than we stored it is a message sent twice.
        stored = Counter(r.text for r in outbound)
        doubles = sum(max(0, n - stored[text]) for text, n in Counter(sent_bodies).items())
    return Ledger(
        inbound_stored=len(inbound),
        inbound_handled=sum(1 for r in inbound if r.status == "handled"),
        replies_sent=len(sent),
        replies_pending=sum(1 for r in outbound if r.status in ("queued", "sending", "retrying")),
        duplicates_sent=doubles,
    )
