"""Teacher commands over messaging: the engine's pre-handler for a registered teacher's phone.

A message from a phone that belongs to an active teacher (or school admin) is read as a
command; the teacher may only command their own classes (a school admin: their school's).
Broadcasts and lessons to more than `broadcast_confirm_over` students wait for YES.
Every action is in the audit log. STOP and START stay global: a teacher can opt out too.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conversation import commands as global_commands
from conversation.store import after_commit
from conversation.teachers import results
from conversation.teachers.broadcasts import count_recipients
from conversation.teachers.commands import EXAMPLES, Command, ParseError, normalise_topic, parse
from conversation.teachers.directory import maybe_staff
from core import clock
from core.i18n import translator
from core.messages import Inbound, Reply
from core.models import (
    AuditLog,
    Broadcast,
    ClassTeacher,
    Contact,
    CurriculumPack,
    Role,
    School,
    SchoolClass,
    StaffUser,
)
from core.runtime import Runtime
from rag.store import get_pack

CONFIRM_WINDOW = timedelta(hours=1)
_AT = re.compile(r"\s+(?:at|saa)\s+(\d{1,2}):(\d{2})$", re.IGNORECASE)


def handle(runtime: Runtime, session: Session, inbound: Inbound, contact: Contact) -> Reply | None:
    """The engine's pre-handler: a Reply for a teacher's message, None for everyone else."""
    if not maybe_staff(session, inbound.sender):  # from memory: most senders are students
        return None
    teacher = session.scalar(select(StaffUser).where(StaffUser.phone == inbound.sender, StaffUser.active.is_(True)))
    if teacher is None or teacher.role not in (Role.TEACHER.value, Role.SCHOOL_ADMIN.value):
        return None
    text = (inbound.text or "").strip()
    if global_commands.parse(text, channel=inbound.channel) in (global_commands.Command.STOP,
                                                                  global_commands.Command.START):
        return None
    return TeacherTurn(runtime, session, teacher, inbound).run(text)


class TeacherTurn:
    def __init__(self, runtime: Runtime, session: Session, teacher: StaffUser, inbound: Inbound):
        self.rt, self.session, self.teacher, self.inbound = runtime, session, teacher, inbound
        self.lang = teacher.language or "en"
        self._ = translator(self.lang, "teachers").gettext
        self.classes = self._my_classes()

    def _my_classes(self) -> dict[str, SchoolClass]:
        if self.teacher.role == Role.SCHOOL_ADMIN.value:
            rows = self.session.scalars(select(SchoolClass).where(SchoolClass.school_id == self.teacher.school_id))
        else:
            rows = self.session.scalars(select(SchoolClass).join(ClassTeacher, ClassTeacher.class_id == SchoolClass.id)
                                        .where(ClassTeacher.staff_user_id == self.teacher.id))
        found: dict[str, SchoolClass] = {}
        for k in rows:
            found[k.name.lower()] = k
            if k.keyword:
                found[k.keyword.lower()] = k
        return found

    def _default_class(self) -> str | None:
        recipient = (self.inbound.recipient or "").lower()
        for ref, k in self.classes.items():
            if recipient and (k.number or "").lower() == recipient:
                return ref
        return None

    def _foreign_classes(self) -> set[str]:
        rows = self.session.execute(select(SchoolClass.name, SchoolClass.keyword).where(
            SchoolClass.school_id == self.teacher.school_id)).all()
        return {str(v).lower() for row in rows for v in row if v} - set(self.classes)

    def run(self, text: str) -> Reply:
        _ = self._
        if not self.classes:
            return Reply(_("You have no classes yet. Ask your school admin to add you to a class."))
        result = parse(text, known_classes=set(self.classes), default_class=self._default_class(),
                       foreign_classes=self._foreign_classes())
        if result is None:
            return self.help(_("Sorry, I did not understand that command."))
        if isinstance(result, ParseError):
            names = ", ".join(sorted({k.name for k in self.classes.values()}))
            return Reply(_(result.reason).format(name=text.split()[1] if len(text.split()) > 1 else "",
                                                 classes=names, example=EXAMPLES.get(result.verb or "", "HELP")))
        handler = getattr(self, f"do_{result.verb}")
        return handler(result)

    # -- commands --------------------------------------------------------------------------
    def help(self, note: str = "") -> Reply:
        _ = self._
        lines = [note] if note else []
        lines += [_("Teacher commands:"), "BROADCAST 6B <text>", "LESSON 6B <topic>", "NEXT 6B / REPEAT 6B / SKIP 6B",
                  "PAUSE 6B / RESUME 6B", "RESULTS 6B"]
        return Reply("\n".join(lines))

    def do_help(self, cmd: Command) -> Reply:
        return self.help()

    def do_broadcast(self, cmd: Command) -> Reply:
        klass = self.classes[cmd.class_ref]
        text, at = self._when(cmd.arg, klass)
        b = Broadcast(school_id=klass.school_id, class_id=klass.id, created_by_id=self.teacher.id, kind="message",
                      text=text[:1000], scheduled_at=at)
        return self._submit(b, klass)

    def do_lesson(self, cmd: Command) -> Reply:
        _ = self._
        klass = self.classes[cmd.class_ref]
        arg, at = self._when(cmd.arg, klass)
        found = self._find_topic(klass, arg)
        if found is None:
            return Reply(_("No topic {topic} for {name}. Send RESULTS {name} to see the topics.").format(
                topic=arg, name=klass.name))
        pack, topic = found
        b = Broadcast(school_id=klass.school_id, class_id=klass.id, created_by_id=self.teacher.id, kind="lesson",
                      pack=pack, topic=topic, text=f"LESSON {topic}", scheduled_at=at)
        return self._submit(b, klass)

    def do_next(self, cmd: Command) -> Reply:
        return self._pace(cmd, "next", self._("Moving {count} students of {name} to the next step."))

    def do_skip(self, cmd: Command) -> Reply:
        return self._pace(cmd, "skip", self._("Skipping the step for {count} students of {name}."))

    def do_repeat(self, cmd: Command) -> Reply:
        return self._pace(cmd, "repeat", self._("Sending the step again to {count} students of {name}."))

    def do_pause(self, cmd: Command) -> Reply:
        klass = self.classes[cmd.class_ref]
        klass.paused = True
        self._audit("class.pause", klass)
        return Reply(self._("{name} is paused. Send RESUME {name} to go on.").format(name=klass.name))

    def do_resume(self, cmd: Command) -> Reply:
        klass = self.classes[cmd.class_ref]
        klass.paused = False
        self._audit("class.resume", klass)
        waiting = list(self.session.scalars(select(Broadcast.id).where(
            Broadcast.class_id == klass.id, Broadcast.status == "scheduled", Broadcast.kind == "lesson",
            (Broadcast.scheduled_at.is_(None)) | (Broadcast.scheduled_at <= clock.now()))))
        for bid in waiting:
            self.session.get(Broadcast, bid).status = "queued"
            self._enqueue_after_commit(bid, None)
        return Reply(self._("{name} continues.").format(name=klass.name))

    def do_results(self, cmd: Command) -> Reply:
        klass = self.classes[cmd.class_ref]
        self._audit("class.results", klass)
        return Reply(results.summary(self.session, klass, self.lang))

    def do_yes(self, cmd: Command) -> Reply:
        _ = self._
        b = self._pending_confirmation()
        if b is None:
            return Reply(_("There is nothing waiting for YES."))
        b.status = "scheduled" if b.scheduled_at and b.scheduled_at > clock.now() else "queued"
        self._enqueue_after_commit(b.id, b.scheduled_at)
        self._audit("broadcast.confirm", b)
        return Reply(_("Sending now.") if b.status == "queued" else _("Scheduled."))

    def do_no(self, cmd: Command) -> Reply:
        _ = self._
        b = self._pending_confirmation()
        if b is None:
            return Reply(_("There is nothing waiting for YES."))
        b.status = "cancelled"
        self._audit("broadcast.cancel", b)
        return Reply(_("Cancelled. Nothing was sent."))

    # -- helpers ---------------------------------------------------------------------------
    def _submit(self, b: Broadcast, klass: SchoolClass) -> Reply:
        _ = self._
        self.session.add(b)
        self.session.flush()
        count = count_recipients(self.session, b)
        b.total = count
        if count == 0:
            b.status = "cancelled"
            self._audit(f"{b.kind}.empty", b)
            return Reply(_("No students to send to in {name}.").format(name=klass.name))
        if count > self.rt.settings.broadcast_confirm_over:
            b.status = "pending_confirm"
            self._audit(f"{b.kind}.compose", b)
            return Reply(_("Send to {count} students in {name}? Reply YES or NO.").format(count=count, name=klass.name))
        b.status = "scheduled" if b.scheduled_at else "queued"
        self._enqueue_after_commit(b.id, b.scheduled_at)
        self._audit(f"{b.kind}.send", b)
        if b.scheduled_at:
            return Reply(_("Scheduled for {count} students in {name}.").format(count=count, name=klass.name))
        return Reply(_("Sending to {count} students in {name}.").format(count=count, name=klass.name))

    def _enqueue_after_commit(self, broadcast_id: int, at: datetime | None) -> None:
        rt = self.rt
        after_commit(self.session, lambda: rt.queue.enqueue(
            "conversation.teachers.broadcasts.run_broadcast", broadcast_id, job_id=f"broadcast-{broadcast_id}",
            queue="broadcast", at=at))

    def _pending_confirmation(self) -> Broadcast | None:
        return self.session.scalar(
            select(Broadcast).where(Broadcast.created_by_id == self.teacher.id, Broadcast.status == "pending_confirm",
                                    Broadcast.created_at >= clock.now() - CONFIRM_WINDOW)
            .order_by(Broadcast.id.desc()).limit(1))

    def _pace(self, cmd: Command, action: str, message: str) -> Reply:
        _ = self._
        klass = self.classes[cmd.class_ref]
        if klass.paused:
            return Reply(_("{name} is paused. Send RESUME {name} first.").format(name=klass.name))
        lesson = self.session.scalar(select(Broadcast).where(
            Broadcast.class_id == klass.id, Broadcast.kind == "lesson",
            Broadcast.status.in_(("sending", "settled"))).order_by(Broadcast.id.desc()).limit(1))
        if lesson is None:
            return Reply(_("{name} has no lesson running. Start one: LESSON {name} <topic>").format(name=klass.name))
        from core.models import BroadcastRecipient

        students = list(self.session.scalars(select(BroadcastRecipient.student_id).where(
            BroadcastRecipient.broadcast_id == lesson.id, BroadcastRecipient.status == "started")))
        rt = self.rt
        for sid in students:
            after_commit(self.session, lambda s=sid: rt.queue.enqueue(
                "conversation.teachers.pacing.class_step", s, action, lesson.id, queue="broadcast"))
        self._audit(f"class.{action}", klass, {"lesson": lesson.id, "students": len(students)})
        return Reply(message.format(count=len(students), name=klass.name))

    def _find_topic(self, klass: SchoolClass, arg: str) -> tuple[str, str] | None:
        wanted = normalise_topic(arg)
        packs = [klass.pack] if klass.pack else []
        school = self.session.get(School, klass.school_id)
        packs += list(self.session.scalars(select(CurriculumPack.pack).where(
            CurriculumPack.country == school.country, func.coalesce(CurriculumPack.grade, 0) == (klass.grade or 0))))
        packs += list(self.session.scalars(select(CurriculumPack.pack).where(CurriculumPack.country == school.country)))
        for pack_id in dict.fromkeys(p for p in packs if p):
            pack = get_pack(self.session, pack_id)
            if pack is None:
                continue
            for topic in pack.topics:
                titles = [topic.title] if isinstance(topic.title, str) else list(topic.title.values())
                if wanted == topic.id or wanted in {normalise_topic(t) for t in titles}:
                    return pack.pack, topic.id
        return None

    def _when(self, arg: str, klass: SchoolClass) -> tuple[str, datetime | None]:
        """'... at 07:30' schedules for the next 07:30 in the school's time zone."""
        m = _AT.search(arg)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            return arg, None
        school = self.session.get(School, klass.school_id)
        tz = ZoneInfo(school.timezone or "Africa/Nairobi")
        local_now = clock.now().astimezone(tz)
        at = local_now.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
        if at <= local_now:
            at += timedelta(days=1)
        return arg[: m.start()].strip(), at

    def _audit(self, action: str, obj, extra: dict | None = None) -> None:
        self.session.add(AuditLog(
            actor=f"teacher:{self.teacher.id}", actor_staff_id=self.teacher.id, school_id=self.teacher.school_id,
            action=action, object_type=type(obj).__name__.lower(), object_id=str(getattr(obj, "id", "")),
            after={"via": self.inbound.channel, **(extra or {})},
        ))
