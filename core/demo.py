"""The demo school: one school, one class with a join code, a teacher, a few students and an admin."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.enrolment import import_rows, parse_csv
from core.models import School, SchoolClass

DEMO_SCHOOL = "Somo Demo Primary"
DEMO_CSV = """school,class,grade,name,phone,role,language,channel
Somo Demo Primary,6B,6,Mwalimu Achieng,+254700000100,teacher,en,sms
Somo Demo Primary,6B,6,Amina,+254700000001,student,sw,sms
Somo Demo Primary,6B,6,Brian,+254700000002,student,en,ussd
Somo Demo Primary,6B,6,Cynthia,+254700000003,student,en,whatsapp
"""
DEMO_JOIN_CODE = "DEMO6B"


def seed_demo(session: Session) -> School:
    result = parse_csv(DEMO_CSV)
    import_rows(session, result)
    school = session.scalar(select(School).where(School.name == DEMO_SCHOOL))
    klass = session.scalar(select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.name == "6B"))
    if klass.join_code != DEMO_JOIN_CODE and session.scalar(
        select(SchoolClass.id).where(SchoolClass.join_code == DEMO_JOIN_CODE)
    ) is None:
        klass.join_code = DEMO_JOIN_CODE
    klass.keyword = klass.keyword or "6B"
    klass.pack = klass.pack or "ke-cbc-g6-math"
    session.flush()
    return school
