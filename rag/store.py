"""Reading and saving packs in the relational store (the source of truth for every process)."""

from __future__ import annotations

import hashlib
import json
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.memo import database_key, forget_on_write
from core.models import CurriculumPack, CurriculumTopic, Skill
from rag.schema import Pack

CHECK_TTL_S = 5.0  # how long a pack version read from the database is trusted without asking again
_cache: dict[tuple[str, str], tuple[str, Pack, float]] = {}  # (db URL, pack) -> (checksum, pack, checked at)
_cache_lock = threading.Lock()


def forget_packs() -> None:
    with _cache_lock:
        _cache.clear()


forget_on_write(forget_packs, CurriculumPack)


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
    """The validated pack, cached per process by checksum (re-read when the pack changes).

    Every lesson step asks for its pack, so the version is checked against the database at
    most every CHECK_TTL_S per process: an import in this process is seen at once (any ORM
    write of a pack forgets the cache), one in another process within CHECK_TTL_S. The
    content (a large JSON document) is read and validated only for a version not seen yet.
    """
    key = (database_key(session), pack_id)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached[2] <= CHECK_TTL_S:
        return cached[1]
    checksum_now = session.scalar(select(CurriculumPack.checksum).where(CurriculumPack.pack == pack_id))
    if checksum_now is None:
        return None
    if cached is not None and cached[0] == checksum_now:
        with _cache_lock:
            _cache[key] = (checksum_now, cached[1], time.monotonic())
        return cached[1]
    row = session.execute(
        select(CurriculumPack.checksum, CurriculumPack.content).where(CurriculumPack.pack == pack_id)
    ).first()
    if row is None:
        return None
    pack = Pack.model_validate(row.content)
    with _cache_lock:
        _cache[key] = (row.checksum, pack, time.monotonic())
    return pack


def list_packs(session: Session) -> list[CurriculumPack]:
    return list(session.scalars(select(CurriculumPack).order_by(CurriculumPack.country, CurriculumPack.pack)))
