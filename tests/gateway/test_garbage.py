"""A request's objects are freed when it ends, not left for the cyclic garbage collector.

Reference counting frees an object graph the moment its last reference goes, unless the
graph holds a cycle: then it waits for the collector, which CPython runs after so many
net allocations, with the GIL held. A USSD step whose turn kept its session, identity map
and learners in a cycle (the turn and its lesson runner pointed at each other) left ~45
objects a step for the collector: at 150 screens a second a young collection every second or
so, 4-12 ms each, and every request in the worker waited through it.
"""

from __future__ import annotations

import gc
from collections import Counter

import pytest

from core import clock
from tests.conftest import make_runtime

ANSWERS = ["1", "Amina", "skip", "1", "1", "1", "1", "1"]  # onboarding, the menu, a Teach lesson's first steps


@pytest.fixture
def pg_rt(pg_url, tmp_path):
    runtime = make_runtime(pg_url, tmp_path=tmp_path)
    yield runtime
    clock.freeze(None)
    runtime.close()


def _session(rt, phone: str, session_id: str) -> list[str]:
    from channels.africastalking import parse_ussd
    from gateway.pipeline import handle_ussd

    form = {"sessionId": session_id, "serviceCode": "*384*1#", "phoneNumber": phone, "networkCode": "63902"}
    return [handle_ussd(rt, parse_ussd({**form, "text": "*".join(ANSWERS[:n])}, "KE")) for n in range(len(ANSWERS) + 1)]


def _cyclic_garbage(step) -> Counter[str]:
    """The objects the collector finds unreachable after `step` runs (they would have waited for it)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        step()
        gc.collect()
        return Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_a_ussd_session_leaves_no_cycles_behind(pg_rt):
    from tests.conversation.helpers import load_pack

    load_pack(pg_rt)
    _session(pg_rt, "+254711000970", "ATUid_warm")  # caches, prepared statements, catalogs: made once
    screens: list[str] = []
    garbage = _cyclic_garbage(lambda: screens.extend(_session(pg_rt, "+254711000971", "ATUid_measured")))
    assert len(screens) == len(ANSWERS) + 1 and any("Step 1/" in s for s in screens), screens  # into the lesson
    ours = {name: n for name, n in garbage.items()
            if name.split(".")[0] in ("core", "conversation", "modes", "gateway", "channels", "rag")
            or name.startswith("sqlalchemy.orm.session")}
    assert ours == {}, garbage.most_common(20)
    assert sum(garbage.values()) < 50, garbage.most_common(20)  # a few from first-use caches at most
