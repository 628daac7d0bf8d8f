"""The AIContextRules that apply to a question: global < subject < class < topic, then by priority.

Later rules win: their prompt text comes last in the prompt (closest to the
question) and their constraints override earlier ones.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from core.models import AIContextRule

SCOPE_RANK = {"global": 0, "subject": 1, "class": 2, "topic": 3}
DEFAULT_MAX_TOKENS = 300
DEFAULT_TEMPERATURE = 0.2


@dataclass
class AppliedRules:
    rules: list[AIContextRule] = field(default_factory=list)
    constraints: dict = field(default_factory=dict)

    @property
    def max_tokens(self) -> int:
        return int(self.constraints.get("max_tokens") or DEFAULT_MAX_TOKENS)

    @property
    def temperature(self) -> float:
        value = self.constraints.get("temperature")
        return DEFAULT_TEMPERATURE if value is None else float(value)

    def digest(self) -> str:
        data = [(r.id, r.priority, r.prompt_template, r.constraints) for r in self.rules]
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def applicable_rules(session: Session, *, pack: str, subject: str, topic: str | None,
                     class_id: int | None) -> AppliedRules:
    conditions = [
        AIContextRule.scope == "global",
        and_(AIContextRule.scope == "subject",
             or_(func.lower(AIContextRule.subject) == subject.lower(), AIContextRule.pack == pack),
             or_(AIContextRule.pack.is_(None), AIContextRule.pack == pack)),
    ]
    if class_id is not None:
        conditions.append(and_(AIContextRule.scope == "class", AIContextRule.class_id == class_id))
    if topic:
        conditions.append(and_(AIContextRule.scope == "topic", AIContextRule.topic == topic,
                               or_(AIContextRule.pack.is_(None), AIContextRule.pack == pack)))
    rows = list(session.scalars(select(AIContextRule).where(AIContextRule.active.is_(True), or_(*conditions))))
    rows.sort(key=lambda r: (SCOPE_RANK.get(r.scope, 0), r.priority, r.id))
    constraints: dict = {}
    for r in rows:
        constraints.update({k: v for k, v in (r.constraints or {}).items() if v is not None})
    return AppliedRules(rows, constraints)
