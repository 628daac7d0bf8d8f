"""core.memo: values kept per database and key, forgotten on a write of their model."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db import make_engine
from core.memo import Memo, database_key
from core.migrate import upgrade
from core.models import School


def _engine(tmp_path, name: str):
    url = f"sqlite:///{tmp_path / name}.db"
    upgrade(url)
    return make_engine(url)


def test_values_are_kept_per_database_and_forgotten_on_a_write(tmp_path):
    one, two = _engine(tmp_path, "one"), _engine(tmp_path, "two")
    memo = Memo(60.0, School)
    loads: list[str] = []
    try:
        with Session(one) as a, Session(two) as b:
            assert database_key(a) == str(one.url) and database_key(b) == str(two.url)
            assert database_key(a) == database_key(a)  # rendered once, then kept on the engine
            assert memo.get(a, "k", lambda: loads.append("one") or 1) == 1
            assert memo.get(b, "k", lambda: loads.append("two") or 2) == 2  # same key, other database
            assert memo.get(a, "k", lambda: loads.append("again") or 3) == 1  # remembered
            assert loads == ["one", "two"]
            a.add(School(name="Kisumu Day"))
            a.commit()  # a write of the memo's model forgets everything
            assert memo.get(a, "k", lambda: loads.append("after") or 4) == 4
            assert memo.get(b, "k", lambda: loads.append("after two") or 5) == 5
    finally:
        one.dispose()
        two.dispose()
