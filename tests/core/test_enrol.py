"""`somo enrol`: good rows import, bad rows are reported by line and field, twice is once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.enrolment import CsvFormatError, parse_csv
from core.models import ClassTeacher, Contact, Enrolment, School, SchoolClass, StaffUser, Student

ROOT = Path(__file__).resolve().parents[2]

CSV = """school,class,grade,name,phone,role,language,channel
Kilimani Primary,6B,6,Amina Wanjiru,0712345678,student,sw,sms
Kilimani Primary,6B,6,Baraka Wanjiru,+254712345678,student,en,ussd
Kilimani Primary,6B,6,Mwalimu Otieno,+254722000111,teacher,en,sms
Kilimani Primary,6A,6,Chege,12345,student,en,sms
Kilimani Primary,6A,6,,+254733000222,student,en,sms
Kilimani Primary,6A,six,Dan,+254733000333,student,en,sms
Kilimani Primary,6A,6,Esther,+254733000444,pupil,fr,fax
Kilimani Primary,6B,6,Amina Wanjiru,+254712345678,student,sw,sms
Kampala Junior,P5,5,Okello,+256772000111,student,lg,whatsapp
"""


def _run(path: Path, db_url: str, tmp_path: Path):
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": "", "SOMO_DATA_DIR": str(tmp_path)}
    return subprocess.run([sys.executable, "-m", "gateway.cli", "enrol", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_enrol_imports_good_rows_and_reports_bad_ones(rt, db_url, tmp_path):
    path = tmp_path / "class.csv"
    path.write_text(CSV, encoding="utf-8")
    first = _run(path, db_url, tmp_path)
    assert first.returncode == 1, first.stderr  # bad rows make the exit non-zero
    err = first.stderr
    assert f"{path}:line 5: phone:" in err
    assert f"{path}:line 6: name: required" in err
    assert f"{path}:line 7: grade: must be a whole number" in err
    assert f"{path}:line 8: role: must be student or teacher" in err
    assert f"{path}:line 8: language:" in err and f"{path}:line 8: channel:" in err
    assert f"{path}:line 9: phone: duplicate of line 2" in err
    assert "line 2:" not in err and "line 3:" not in err and "line 10:" not in err

    with rt.session() as s:
        assert s.scalar(select(func.count()).select_from(School)) == 2
        assert s.scalar(select(func.count()).select_from(SchoolClass)) == 2  # 6A had no good row
        assert s.scalar(select(func.count()).select_from(Student)) == 3
        assert s.scalar(select(func.count()).select_from(Contact)) == 2  # siblings share a phone
        assert s.scalar(select(func.count()).select_from(Enrolment)) == 3
        assert s.scalar(select(func.count()).select_from(ClassTeacher)) == 1
        teacher = s.scalar(select(StaffUser))
        assert teacher.phone == "+254722000111" and teacher.role == "teacher"
        kampala = s.scalar(select(School).where(School.name == "Kampala Junior"))
        assert kampala.country == "UG"
        snapshot = {m.__name__: s.scalar(select(func.count()).select_from(m))
                    for m in (School, SchoolClass, Student, Contact, Enrolment, ClassTeacher, StaffUser)}

    second = _run(path, db_url, tmp_path)
    assert "0 new student(s), 0 new teacher(s), 0 new enrolment(s), 4 unchanged" in second.stdout
    with rt.session() as s:
        again = {m.__name__: s.scalar(select(func.count()).select_from(m))
                 for m in (School, SchoolClass, Student, Contact, Enrolment, ClassTeacher, StaffUser)}
    assert again == snapshot


def test_enrol_rejects_a_missing_file_and_a_bad_header(tmp_path, db_url):
    missing = _run(tmp_path / "nope.csv", db_url, tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr and missing.stderr.count("\n") == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone\nA,+254712345678\n")
    out = _run(bad, db_url, tmp_path)
    assert out.returncode == 2 and "missing column(s) school, class, grade, role, language, channel" in out.stderr
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"school,class\n\xff\xfe\x00")
    out = _run(binary, db_url, tmp_path)
    assert out.returncode == 2 and "not UTF-8" in out.stderr


def test_parse_csv_header_error():
    with pytest.raises(CsvFormatError, match="line 1: header"):
        parse_csv("a,b\n1,2\n")


def test_a_field_postgresql_cannot_store_is_an_error_on_its_line_and_the_rest_import(rt):
    """A NUL character or a lone surrogate in any field is reported by line and field (found
    by the enrolment CSV fuzz test: they reached the database and failed the whole import);
    the good rows still import."""
    from core.enrolment import import_rows

    text = ("school,class,grade,name,phone,role,language,channel\n"
            "Kilimani\x00 Primary,6B,6,Amina,0712345601,student,en,sms\n"
            "Kilimani Primary,6B,6,Bara\ud800ka,0712345602,student,en,sms\n"
            "Kilimani Primary,6B,6,Chege,0712345603,student,en,s\x00ms\n"
            "Kilimani Primary,6B,6,Dan,0712345604,student,en,sms\n")
    result = parse_csv(text)
    assert [(e.line, e.field, e.reason) for e in result.errors] == [
        (2, "school", "contains a NUL character"),
        (3, "name", "contains a lone surrogate (not valid Unicode text)"),
        (4, "channel", "contains a NUL character"),
    ]
    assert [r.name for r in result.rows] == ["Dan"]
    with rt.session() as s:
        import_rows(s, result)
    with rt.session() as s:
        assert s.scalars(select(Student.name)).all() == ["Dan"]
