"""The simulated messaging students: most take a lesson, one in four asks questions."""

from __future__ import annotations

from bench import scenario


def test_an_explorer_onboards_like_the_others_then_picks_ask_questions_and_asks():
    explorer = next(s for s in range(8) if scenario.is_explorer(s))
    learner = next(s for s in range(8) if not scenario.is_explorer(s))
    onboarding = [scenario.chat_text(step, explorer) for step in range(scenario.MODE_STEP)]
    assert onboarding == [scenario.chat_text(step, learner) for step in range(scenario.MODE_STEP)]
    assert scenario.chat_text(scenario.MODE_STEP, explorer) == "2"  # "Ask questions"
    assert scenario.chat_text(scenario.MODE_STEP, learner) == "1"  # "Learn step by step"
    asked = [scenario.chat_text(step, explorer) for step in range(scenario.MODE_STEP + 1, scenario.MODE_STEP + 9)]
    assert all(q in scenario.QUESTIONS for q in asked) and len(set(asked)) > 1


def test_one_messaging_student_in_four_asks_questions_and_they_are_not_all_on_whatsapp():
    explorers = [s for s in range(400) if scenario.is_explorer(s)]
    assert len(explorers) == 100
    assert any(not scenario.is_whatsapp(s) for s in explorers)
