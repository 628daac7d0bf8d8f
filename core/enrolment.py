"""Bulk enrolment from CSV (`somo enrol`, the admin's import page).

Columns: school,class,grade,name,phone,role,language,channel. Each bad row is reported
by line and field; the good rows import. Importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.i18n import LANGUAGES
from core.models import (
    Channel,
    ClassTeacher,
    Contact,
    Enrolment,
    Role,
    School,
    SchoolClass,
    StaffUser,
    Student,
)
from core.phone import InvalidPhone, country_of, is_valid_for, to_e164

COLUMNS = ("school", "class", "grade", "name", "phone", "role", "language", "channel")
ROLES = ("student", "teacher")
CHANNELS = (Channel.SMS.value, Channel.USSD.value, Channel.WHATSAPP.value)
MAX_ROWS = 20_000


@dataclass
class RowError:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass
class EnrolRow:
    line: int
    school: str
    class_name: str
    grade: int | None
    name: str
    phone: str
    role: str
    language: str
    channel: str


@dataclass
class EnrolResult:
    rows: list[EnrolRow] = field(default_factory=list)  # valid rows
    errors: list[RowError] = field(default_factory=list)
    created_students: int = 0
    created_teachers: int = 0
    created_enrolments: int = 0
    unchanged: int = 0

    @property
    def imported(self) -> int:
        return self.created_students + self.created_teachers + self.created_enrolments


class CsvFormatError(ValueError):
    pass


def parse_csv(text: str, *, default_country: str = "KE", school_countries: dict[str, str] | None = None) -> EnrolResult:
    """Validate every row; return the good rows and an error per bad field."""
    result = EnrolResult()
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise CsvFormatError(f"line 1: header: not readable as CSV ({exc})") from exc
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise CsvFormatError(f"line 1: header: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    reader.fieldnames = header
    seen: dict[tuple[str, str, str], int] = {}
    for index, raw in _rows(reader, result):
        if index - 1 > MAX_ROWS:
            result.errors.append(RowError(index, "file", f"more than {MAX_ROWS} rows; the rest were not read"))
            break
        row = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        if None in raw:
            result.errors.append(RowError(index, "row", f"too many fields (expected {len(COLUMNS)})"))
            continue
        errors = _validate_row(index, row, default_country, school_countries or {})
        if errors:
            result.errors.extend(errors)
            continue
        key = (row["school"].lower(), row["class"].lower(), to_e164(row["phone"], default_country) + "|" + row["name"].lower())
        if key in seen:
            result.errors.append(RowError(index, "phone", f"duplicate of line {seen[key]}"))
            continue
        seen[key] = index
        grade = int(row["grade"]) if row["grade"] else None
        country = (school_countries or {}).get(row["school"].lower()) or default_country
        result.rows.append(
            EnrolRow(
                line=index, school=row["school"], class_name=row["class"], grade=grade, name=row["name"],
                phone=to_e164(row["phone"], country), role=row["role"].lower() or "student",
                language=(row["language"] or "en").lower(), channel=(row["channel"] or "sms").lower(),
            )
        )
    return result


def _rows(reader: csv.DictReader, result: EnrolResult):
    """(line, row) pairs; a row the csv module cannot read (a stray quote or carriage return)
    is reported by line, and the rows before it still import."""
    index = 1
    while True:
        index += 1
        try:
            raw = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            result.errors.append(RowError(index, "row", f"not readable as CSV ({exc}); the rest was not read"))
            return
        yield index, raw


def _unstorable(line: int, row: dict[str, str]) -> list[RowError]:
    """Fields PostgreSQL cannot store as text: a NUL character, or a lone UTF-16 surrogate
    (not valid Unicode; the upload's decoding or a caller can leave one)."""
    errs = []
    for column in COLUMNS:
        value = row.get(column) or ""
        if "\x00" in value:
            errs.append(RowError(line, column, "contains a NUL character"))
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errs.append(RowError(line, column, "contains a lone surrogate (not valid Unicode text)"))
    return errs


def _validate_row(line: int, row: dict[str, str], default_country: str, countries: dict[str, str]) -> list[RowError]:
    errs = _unstorable(line, row)
    if errs:  # the checks below would quote the value back, and nothing of it can be stored
        return errs
    if not row.get("school"):
        errs.append(RowError(line, "school", "required"))
    elif len(row["school"]) > 200:
        errs.append(RowError(line, "school", "longer than 200 characters"))
    if not row.get("class"):
        errs.append(RowError(line, "class", "required"))
    elif len(row["class"]) > 100:
        errs.append(RowError(line, "class", "longer than 100 characters"))
    if row.get("grade") and not (row["grade"].isdigit() and 1 <= int(row["grade"]) <= 13):
        errs.append(RowError(line, "grade", f"must be a whole number from 1 to 13, got {row['grade']!r}"))
    if not row.get("name"):
        errs.append(RowError(line, "name", "required"))
    elif len(row["name"]) > 120:
        errs.append(RowError(line, "name", "longer than 120 characters"))
    country = countries.get(row.get("school", "").lower()) or default_country
    if not row.get("phone"):
        errs.append(RowError(line, "phone", "required"))
    else:
        try:
            e164 = to_e164(row["phone"], country)
            if not is_valid_for(e164, country_of(e164) or country) or country_of(e164) not in ("KE", "UG", "ZM"):
                errs.append(RowError(line, "phone", f"not a valid Kenyan, Ugandan or Zambian number: {row['phone']!r}"))
            elif country_of(e164) != country and row.get("school", "").lower() in countries:
                errs.append(RowError(line, "phone", f"not a valid number for {country}: {row['phone']!r}"))
        except InvalidPhone as exc:
            errs.append(RowError(line, "phone", str(exc)))
    role = (row.get("role") or "student").lower()
    if role not in ROLES:
        errs.append(RowError(line, "role", f"must be student or teacher, got {row.get('role')!r}"))
    lang = (row.get("language") or "en").lower()
    if lang not in LANGUAGES:
        errs.append(RowError(line, "language", f"must be one of {', '.join(LANGUAGES)}, got {row.get('language')!r}"))
    channel = (row.get("channel") or "sms").lower()
    if channel not in CHANNELS:
        errs.append(RowError(line, "channel", f"must be one of {', '.join(CHANNELS)}, got {row.get('channel')!r}"))
    return errs


def import_rows(session: Session, result: EnrolResult, *, only_school_id: int | None = None) -> EnrolResult:
    """Create schools, classes, contacts, students, teachers and enrolments for the good rows."""
    for row in result.rows:
        school = session.scalar(select(School).where(School.name == row.school))
        if school is None:
            if only_school_id is not None:
                result.errors.append(RowError(row.line, "school", f"unknown school {row.school!r}"))
                continue
            school = School(name=row.school, country=country_of(row.phone) or "KE")
            session.add(school)
            session.flush()
        elif only_school_id is not None and school.id != only_school_id:
            result.errors.append(RowError(row.line, "school", f"not your school: {row.school!r}"))
            continue
        klass = session.scalar(
            select(SchoolClass).where(SchoolClass.school_id == school.id, SchoolClass.name == row.class_name)
        )
        if klass is None:
            klass = SchoolClass(school_id=school.id, name=row.class_name, grade=row.grade, join_code=new_join_code(session))
            session.add(klass)
            session.flush()
        if row.role == Role.TEACHER.value or row.role == "teacher":
            _import_teacher(session, result, school, klass, row)
        else:
            _import_student(session, result, school, klass, row)
    session.flush()
    return result


def _import_teacher(session: Session, result: EnrolResult, school: School, klass: SchoolClass, row: EnrolRow) -> None:
    teacher = session.scalar(select(StaffUser).where(StaffUser.phone == row.phone))
    if teacher is None:
        teacher = StaffUser(name=row.name, phone=row.phone, role=Role.TEACHER.value, school_id=school.id, language=row.language)
        session.add(teacher)
        session.flush()
        result.created_teachers += 1
    elif teacher.school_id != school.id:
        result.errors.append(RowError(row.line, "phone", "this teacher's phone belongs to another school"))
        return
    link = session.get(ClassTeacher, (klass.id, teacher.id))
    if link is None:
        session.add(ClassTeacher(class_id=klass.id, staff_user_id=teacher.id))
        result.created_enrolments += 1
    else:
        result.unchanged += 1


def _import_student(session: Session, result: EnrolResult, school: School, klass: SchoolClass, row: EnrolRow) -> None:
    contact = session.scalar(select(Contact).where(Contact.phone == row.phone))
    if contact is None:
        contact = Contact(phone=row.phone, country=country_of(row.phone), channels_seen=[])
        session.add(contact)
        session.flush()
    student = session.scalar(
        select(Student).where(Student.contact_id == contact.id, Student.name == row.name)
    )
    if student is None:
        student = Student(
            contact_id=contact.id, school_id=school.id, name=row.name, language=row.language,
            preferred_channel=row.channel, onboarded=False,
        )
        session.add(student)
        session.flush()
        result.created_students += 1
    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.student_id == student.id, Enrolment.class_id == klass.id)
    )
    if enrolment is None:
        session.add(Enrolment(student_id=student.id, class_id=klass.id))
        result.created_enrolments += 1
    else:
        result.unchanged += 1


_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_join_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
        if session.scalar(select(SchoolClass.id).where(SchoolClass.join_code == code)) is None:
            return code


def error_report_csv(errors: list[RowError]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["line", "field", "reason"])
    for e in errors:
        w.writerow([e.line, e.field, e.reason])
    return buf.getvalue()
