"""Sample curriculum packs written for Somo (no copied text), loaded by `somo demo`.

    load_sample_packs(rt) -> list[str]   one-line notes for the demo banner

A pack whose checksum is unchanged is not re-imported, so restarting the demo is quick.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from core.models import Chunk, CurriculumPack
from core.runtime import Runtime
from rag.index import import_pack
from rag.store import checksum
from rag.validate import PackInvalid, validate_pack_text

SAMPLES_DIR = Path(__file__).resolve().parent


def sample_paths() -> list[Path]:
    return sorted(SAMPLES_DIR.glob("*.yaml"))


def load_sample_packs(rt: Runtime) -> list[str]:
    notes: list[str] = []
    for path in sample_paths():
        pack, errors = validate_pack_text(path.read_text(encoding="utf-8"), path.name)
        if pack is None:
            raise PackInvalid(path.name, errors)  # our own samples must be valid: fail loudly
        with rt.session() as session:
            row = session.scalar(select(CurriculumPack).where(CurriculumPack.pack == pack.pack))
            if row is None or row.checksum != checksum(pack) or row.index_status != "indexed":
                row = import_pack(rt, session, pack)
            chunks = session.scalar(select(func.count()).select_from(Chunk).where(Chunk.pack_id == row.id))
            notes.append(f"curriculum pack {pack.pack}: {len(pack.topics)} topics, {chunks} passages "
                         f"({', '.join(pack.languages)})")
    return notes  # the demo's app builds the search collections when it starts (rag.warmup)
