"""The main menu's subjects: a learner with no class asks no class query, and the subject rows
are kept per process (an import here is seen at once, another process's within the TTL)."""

from __future__ import annotations

from sqlalchemy import event, text

from conversation import world
from rag.store import save_pack
from tests import factories
from tests.conversation.helpers import Phone, load_pack, read_pack
from tests.conversation.test_flows import onboard


def _statements(engine) -> list[str]:
    seen: list[str] = []

    def on_sql(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", on_sql)
    return seen


def _asks_packs(seen: list[str]) -> bool:
    return any("FROM curriculum_packs" in s for s in seen)


def _asks_class_packs(seen: list[str]) -> bool:
    return any("SELECT classes.pack" in s for s in seen)


def test_the_consent_screen_of_a_learner_without_a_class_reads_no_class_and_no_pack_rows(rt):
    load_pack(rt)
    onboard(Phone(rt, "+254711000501"), "1", "Amina")  # the first menu reads the country's packs
    seen = _statements(rt.engine)
    menu = onboard(Phone(rt, "+254711000502"), "1", "Baraka")
    assert "Welcome to Somo, Baraka!" in menu and "1. Mathematics" in menu
    assert not _asks_packs(seen) and not _asks_class_packs(seen)


def test_a_learner_in_a_class_is_offered_the_class_pack(rt):
    load_pack(rt)
    with rt.session() as s:
        save_pack(s, read_pack().model_copy(update={"pack": "mini-sci", "subject": "Science"}))
        factories.school_class(s, school=factories.school(s), join_code="SCI6", pack="mini-sci")
    onboard(Phone(rt, "+254711000503"), "1", "Chebet")  # the country's packs, remembered
    phone = Phone(rt, "+254711000504")
    phone.send("Hi")
    phone.send("1")
    phone.send("Daudi")
    seen = _statements(rt.engine)
    assert "You joined" in phone.send("SCI6")
    menu = phone.send("1")
    assert "1. Science" in menu and "Mathematics" not in menu
    assert _asks_class_packs(seen)


def test_a_pack_imported_in_this_process_is_on_the_next_menu(rt):
    load_pack(rt)
    phone = Phone(rt, "+254711000505")
    menu = onboard(phone, "1", "Eshe")
    assert "Science" not in menu
    with rt.session() as s:  # an import: an ORM write of a pack forgets the remembered rows
        save_pack(s, read_pack().model_copy(update={"pack": "mini-sci", "subject": "Science"}))
    menu = phone.send("MENU")
    assert "Mathematics" in menu and "Science" in menu


def test_a_change_by_another_process_is_seen_after_the_ttl(rt, monkeypatch):
    load_pack(rt)
    phone = Phone(rt, "+254711000506")
    assert "1. Mathematics" in onboard(phone, "1", "Faraji")
    with rt.engine.begin() as c:  # raw SQL: no ORM event, as another process's import looks from here
        c.execute(text("UPDATE curriculum_packs SET subject = 'Geometry' WHERE pack = 'mini-math'"))
    assert "1. Mathematics" in phone.send("MENU")  # within the TTL: the remembered rows
    monkeypatch.setattr(world.subject_rows, "ttl_s", 0.0)
    assert "1. Geometry" in phone.send("MENU")
