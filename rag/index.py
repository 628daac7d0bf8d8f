"""Importing a pack: validate, save, chunk, index (the relational side).

Contract (used by the admin's upload page and `somo curriculum import`):
    import_pack(runtime, session, pack: Pack) -> CurriculumPack
validates the pack's cross-field rules, saves it (replacing a pack with the same id),
cuts it into `Chunk` rows with their BM25 sparse vectors (and dense vectors when an
embeddings endpoint is configured), and flushes. The `Chunk` rows are the source of
truth: every process (server, worker, CLI) rebuilds its in-memory Qdrant collections
from them when the pack's checksum changes (see rag/vectors.py), so nothing here
touches Qdrant and no process holds a lock another one needs.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete
from sqlalchemy.orm import Session

from core.models import Chunk, CurriculumPack
from core.runtime import Runtime
from rag import llm
from rag.chunking import passages
from rag.schema import Pack
from rag.store import save_pack
from rag.tokenize import doc_vector
from rag.validate import PackInvalid, check_pack

log = logging.getLogger(__name__)


def import_pack(runtime: Runtime, session: Session, pack: Pack) -> CurriculumPack:
    """Validate-then-save-then-chunk-then-index; re-importing replaces the pack and its chunks."""
    errors = check_pack(pack)
    if errors:
        raise PackInvalid(pack.pack, errors)
    row = save_pack(session, pack)
    session.execute(delete(Chunk).where(Chunk.pack_id == row.id))
    found = passages(pack)
    dense: list[list[float]] | None = None
    row.index_error = None
    if llm.embeddings_enabled(runtime) and found:
        try:
            dense = llm.embed(runtime, [p.index_text for p in found])
        except llm.LLMError as exc:
            # Sparse retrieval still works; the pack is usable, and the reason is on record.
            log.warning("pack %s: dense embeddings skipped: %s", pack.pack, exc)
            row.index_error = f"dense embeddings skipped: {exc}"
    for i, p in enumerate(found):
        session.add(Chunk(
            pack_id=row.id, pack=pack.pack, curriculum=pack.curriculum, country=pack.country,
            subject=pack.subject, grade=pack.grade, topic=p.topic, language=p.language, section=p.section,
            position=p.position, text=p.text, token_count=p.token_count, sparse=doc_vector(p.index_text, p.language),
            dense=dense[i] if dense else None,
        ))
    row.index_status = "indexed"
    session.flush()
    return row
