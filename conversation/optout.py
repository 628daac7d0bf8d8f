"""STOP and START: opting a number out of every message (broadcasts included) and back in.

Opt-out overrides whatever lesson is active and is checked before anything else, rate
limits included. Both are recorded (on the contact, and in the audit log) and confirmed
once: a second STOP says nothing, and while opted out only START (or, on a USSD screen,
"1") is answered. The confirmation carries `meta={"bypass_optout": True}` so the gateway
sends it even though the number is now opted out.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from conversation.commands import Command
from conversation.text import gettext_for
from core import clock
from core.messages import Option, Reply
from core.models import AuditLog, Contact
from core.phone import mask

BYPASS = {"bypass_optout": True}


def _audit(session: Session, contact: Contact, action: str) -> None:
    session.add(AuditLog(actor=f"contact:{mask(contact.phone)}", action=action, object_type="contact",
                         object_id=str(contact.id), after={"opted_out": contact.opted_out}))


def opt_out(session: Session, contact: Contact, lang: str) -> Reply | None:
    if contact.opted_out:
        return None  # confirmed once already
    contact.opted_out, contact.opted_out_at = True, clock.now()
    _audit(session, contact, "contact.opt_out")
    _ = gettext_for(lang)
    return Reply(_("You will get no more messages from Somo. To come back, reply START."), end_session=True,
                 meta=dict(BYPASS))


def opt_in(session: Session, contact: Contact) -> None:
    contact.opted_out, contact.opted_in_at = False, clock.now()
    _audit(session, contact, "contact.opt_in")


def wants_start(command: Command | None, text: str, channel: str) -> bool:
    return command is Command.START or (channel == "ussd" and text.strip() == "1")


def while_out(channel: str, lang: str) -> Reply | None:
    """An opted-out number writes again without START: silence, except on a USSD screen it opened."""
    if channel != "ussd":
        return None
    _ = gettext_for(lang)
    return Reply(_("You stopped Somo messages."), options=[Option("1", _("Start again"), id="start")],
                 meta=dict(BYPASS))


def welcome_back(lang: str) -> str:
    _ = gettext_for(lang)
    return _("Welcome back to Somo!")
