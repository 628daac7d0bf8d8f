"""Reading and saving packs in the relational store (the source of truth for every process)."""

from __future__ import annotations

import hashlib
import json
import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import CurriculumPack, CurriculumTopic, Skill
from rag.schema import Pack

_cache: dict[str, tuple[str, Pack]] = {}
_cache_lock = threading.Lock()


def checksum(pack: Pack) -> str:
    return hashlib.sha256(json.dumps(pack.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def save_pack(session: Session, pack: Pack) -> CurriculumPack:
    """Insert or replace a pack (same `pack` id) with its topics and skills; flushes."""
    row = session.scalar(select(CurriculumPack).where(CurriculumPack.pack == pack.pack))
    if row is None:
        row = CurriculumPack(pack=pack.pack)
        session.add(row)
    else:
        row.topics.clear()
        session.flush()
    row.curriculum, row.country, row.subject, row.grade = pack.curriculum, pack.country, pack.subject, pack.grade
    row.languages, row.version = list(pack.languages), pack.version
    row.content = pack.model_dump(mode="json", exclude_none=True)
    row.checksum = checksum(pack)
    row.index_status = "pending"
    for position, topic in enumerate(pack.topics):
        t = CurriculumTopic(topic=topic.id, position=position,
                            title=topic.title if isinstance(topic.title, dict) else {pack.default_language: topic.title})
        t.skills = [Skill(skill=s) for s in topic.skill_ids]
        row.topics.append(t)
    session.flush()
    return row


def get_pack(session: Session, pack_id: str) -> Pack | None:
    """The validated pack, cached per process by checksum (re-read when the pack changes)."""
    # The checksum alone decides: the content (a large JSON document) is read and validated
    # only when this process has not seen this version yet.
    checksum_now = session.scalar(select(CurriculumPack.checksum).where(CurriculumPack.pack == pack_id))
    if checksum_now is None:
        return None
    cached = _cache.get(pack_id)
    if cached and cached[0] == checksum_now:
        return cached[1]
    row = session.execute(
        select(CurriculumPack.checksum, CurriculumPack.content).where(CurriculumPack.pack == pack_id)
    ).first()
    if row is None:
        return None
    pack = Pack.model_validate(row.content)
    with _cache_lock:
        _cache[pack_id] = (row.checksum, pack)
    return pack


def list_packs(session: Session) -> list[CurriculumPack]:
    return list(session.scalars(select(CurriculumPack).order_by(CurriculumPack.country, CurriculumPack.pack)))
