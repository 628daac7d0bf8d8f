"""BKT: mastery rises with right answers and falls with wrong ones; degenerate params are guarded."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from core.models import CurriculumPack, CurriculumTopic, Skill, SkillMastery
from modes import mastery
from modes.mastery import DEFAULT, BKTParams, params_from, update


def test_right_answers_raise_mastery_to_mastered():
    p, seen = DEFAULT.p_init, []
    for _ in range(5):
        p = update(p, True)
        seen.append(p)
    assert seen == sorted(seen) and seen[0] > DEFAULT.p_init
    assert mastery.is_mastered(seen[-1]) and not mastery.is_mastered(seen[1])


def test_wrong_answers_lower_mastery():
    p = 0.9
    after = update(p, False)
    assert after < p
    assert update(after, False) < after


def test_closed_form_matches_hand_computation():
    prm = BKTParams(p_init=0.3, p_learn=0.1, p_guess=0.2, p_slip=0.1)
    post = 0.3 * 0.9 / (0.3 * 0.9 + 0.7 * 0.2)
    assert update(0.3, True, prm) == pytest.approx(post + (1 - post) * 0.1)
    post = 0.3 * 0.1 / (0.3 * 0.1 + 0.7 * 0.8)
    assert update(0.3, False, prm) == pytest.approx(post + (1 - post) * 0.1)


def test_degenerate_params_are_guarded():
    g = BKTParams(p_init=1.5, p_learn=-1, p_guess=0.9, p_slip=0.6).guarded()
    assert g.p_guess == 0.3 and g.p_slip == 0.1 and 0 < g.p_init < 1 and 0 < g.p_learn < 1
    assert params_from(None, None, None, None) == DEFAULT
    assert params_from(0.5, None, 0.5, float("nan")).p_guess == 0.3


_param = st.floats(-1, 2) | st.just(float("nan"))


@given(st.floats(0, 1), st.booleans(), _param, _param, _param, _param)
def test_update_stays_a_probability_and_moves_the_right_way(p, correct, a, b, c, d):
    prm = BKTParams(a, b, c, d)
    after = update(p, correct, prm)
    assert 0 < after < 1 and not math.isnan(after)
    if correct:  # guarded guess < 1 - slip, so a right answer never lowers the estimate
        assert after >= min(max(p, 0.001), 0.999) - 1e-12


def test_skill_row_params_are_used(rt, saved_pack, student_id):
    with rt.session() as s:
        skill = s.scalar(select(Skill).join(CurriculumTopic).join(CurriculumPack)
                         .where(CurriculumPack.pack == "mini-math", Skill.skill == "perimeter"))
        skill.p_init, skill.p_learn = 0.5, 0.3
    with rt.session() as s:
        prm = mastery.skill_params(s, "mini-math", "perimeter")
        assert (prm.p_init, prm.p_learn, prm.p_guess) == (0.5, 0.3, DEFAULT.p_guess)
        p_known = mastery.record(s, student_id=student_id, pack_id="mini-math", topic_id="perimeter",
                                 skill="perimeter", correct=True, now=datetime(2025, 1, 1, tzinfo=UTC))
        assert p_known == pytest.approx(update(0.5, True, prm))
    with rt.session() as s:
        stored = s.scalar(select(SkillMastery))
        assert (stored.attempts, stored.correct, stored.p_known) == (1, 1, pytest.approx(p_known))
        assert (stored.topic, stored.mastered_at, stored.updated_at) == ("perimeter", None, datetime(2025, 1, 1, tzinfo=UTC))


def test_record_updates_the_row_and_a_loaded_copy_is_not_stale(rt, saved_pack, student_id):
    """The second attempt updates the row the first created; an ORM copy read before is expired."""
    first, then = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    with rt.session() as s:
        mastery.record(s, student_id=student_id, pack_id="mini-math", topic_id="perimeter", skill="perimeter",
                       correct=True, now=first)
        loaded = mastery.get_p_known(s, student_id, "mini-math", "perimeter")
        copy = s.scalar(select(SkillMastery))
        p_known = loaded
        for _ in range(12):  # right answers until mastered
            p_known = mastery.record(s, student_id=student_id, pack_id="mini-math", topic_id="perimeter",
                                     skill="perimeter", correct=True, now=then)
        assert copy.attempts == 13 and copy.p_known == pytest.approx(p_known)  # expired, read again
        assert mastery.get_p_known(s, student_id, "mini-math", "perimeter") == pytest.approx(p_known)
    with rt.session() as s:
        stored = s.scalar(select(SkillMastery))
        assert (stored.attempts, stored.correct) == (13, 13)
        assert mastery.is_mastered(stored.p_known) and stored.mastered_at == then and stored.updated_at == then
