"""The curriculum pack format (../shared/design/CURRICULUM_PACK.md) as strict pydantic models.

A public contract: unknown keys are errors, every error has a path.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
LocalizedStr = str | dict[LangCode, str]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def text_in(value: LocalizedStr | None, lang: str, default_lang: str) -> str:
    """The string in `lang`, else the pack's first language, else any."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get(lang) or value.get(default_lang) or next(iter(value.values()), "")


def languages_of(value: LocalizedStr | None, default_lang: str) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, str):
        return {default_lang}
    return set(value)


class TeachQuestion(Strict):
    question: LocalizedStr
    answer: str = Field(min_length=1)
    accept: list[str] = Field(default_factory=list)
    choices: list[str] | None = Field(default=None, min_length=2, max_length=10)
    hint: LocalizedStr | None = None
    explanation: LocalizedStr | None = None
    simplest: bool = False  # a fraction answer must be in its simplest form

    @model_validator(mode="after")
    def _answer_among_choices(self):
        if self.choices is not None and self.answer not in self.choices:
            raise ValueError(f"answer {self.answer!r} is not one of the choices")
        return self


class BankQuestion(TeachQuestion):
    difficulty: int = Field(ge=1, le=3)
    skill: str | None = None


class Teach(Strict):
    intro: LocalizedStr
    explanation: LocalizedStr
    example: LocalizedStr
    practice: list[TeachQuestion] = Field(min_length=1)
    quiz: list[TeachQuestion] = Field(min_length=1)
    recap: LocalizedStr


TEACH_STEPS = ("intro", "explanation", "example", "practice", "quiz", "recap")


class Topic(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    title: LocalizedStr
    summary: LocalizedStr | None = None
    skills: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]] | None = None
    reference: LocalizedStr
    teach: Teach
    questions: list[BankQuestion] = Field(min_length=1)

    @property
    def skill_ids(self) -> list[str]:
        return list(self.skills) if self.skills else [self.id]

    @model_validator(mode="after")
    def _skills_known(self):
        known = set(self.skill_ids)
        for i, q in enumerate(self.questions):
            if q.skill is not None and q.skill not in known:
                raise ValueError(f"questions[{i}].skill: {q.skill!r} is not one of the topic's skills {sorted(known)}")
        return self


class Pack(Strict):
    pack: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)
    curriculum: str = Field(min_length=1, max_length=40)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    subject: str = Field(min_length=1, max_length=80)
    grade: int = Field(ge=1, le=13)
    languages: list[LangCode] = Field(min_length=1)
    version: int | None = None
    topics: list[Topic] = Field(min_length=1)

    @field_validator("languages")
    @classmethod
    def _unique_languages(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("languages must not repeat")
        return v

    @model_validator(mode="after")
    def _unique_topics(self):
        seen: set[str] = set()
        for i, t in enumerate(self.topics):
            if t.id in seen:
                raise ValueError(f"topics[{i}].id: duplicate topic id {t.id!r}")
            seen.add(t.id)
        return self

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def topic(self, topic_id: str) -> Topic | None:
        return next((t for t in self.topics if t.id == topic_id), None)

    def text(self, value: LocalizedStr | None, lang: str) -> str:
        return text_in(value, lang, self.default_language)


def question_key(topic_id: str, kind: str, index: int) -> str:
    """Stable id of a question within a pack: 'fractions-add:bank:3'."""
    return f"{topic_id}:{kind}:{index}"


_SLUG = re.compile(r"[^a-z0-9]+")


def slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")
