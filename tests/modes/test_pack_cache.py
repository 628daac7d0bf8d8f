"""A lesson step asks for its pack: the version is checked at most every CHECK_TTL_S, and an
import in this process is seen at once."""

from __future__ import annotations

from sqlalchemy import event, text

from rag import store


def test_pack_version_checked_at_most_every_ttl_and_a_reimport_seen_at_once(rt, saved_pack, monkeypatch):
    asked = []
    event.listen(rt.engine, "before_cursor_execute",
                 lambda conn, cur, statement, *a: asked.append(statement) if "FROM curriculum_packs" in statement else None)
    with rt.session() as s:
        first = store.get_pack(s, saved_pack.pack)
        assert store.get_pack(s, saved_pack.pack) is first
    assert len(asked) == 2  # the version, then the content once; the second call asked nothing
    changed = saved_pack.model_copy(update={"version": (saved_pack.version or 0) + 1})
    with rt.session() as s:
        store.save_pack(s, changed)
    with rt.session() as s:
        assert store.get_pack(s, saved_pack.pack).version == changed.version
    with rt.engine.begin() as c:  # another process deletes it: seen once the TTL is over
        c.execute(text("DELETE FROM curriculum_packs"))
    with rt.session() as s:
        assert store.get_pack(s, saved_pack.pack) is not None
    monkeypatch.setattr(store, "CHECK_TTL_S", 0.0)
    with rt.session() as s:
        assert store.get_pack(s, saved_pack.pack) is None
