"""Import, re-import and the per-process index: the Chunk rows are the source of truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.models import Chunk, CurriculumPack, CurriculumTopic
from core.runtime import build_runtime
from core.settings import Settings
from rag.index import import_pack
from rag.retrieve import retrieve
from rag.schema import Pack
from rag.validate import PackInvalid
from rag.vectors import vector_index
from tests.rag.conftest import FIXTURES, load

ROOT = Path(__file__).resolve().parents[2]


def count(session, **where) -> int:
    q = select(func.count()).select_from(Chunk)
    for k, v in where.items():
        q = q.where(getattr(Chunk, k) == v)
    return session.scalar(q)


def test_import_writes_chunks_with_metadata_and_vectors(rt):
    pack = load(FIXTURES / "good" / "tiny-math.yaml")
    with rt.session() as session:
        row = import_pack(rt, session, pack)
        assert row.index_status == "indexed" and row.index_error is None
        chunks = list(session.scalars(select(Chunk).where(Chunk.pack_id == row.id)))
    assert len(chunks) == 12  # 6 sections x 2 languages
    c = next(c for c in chunks if c.section == "reference" and c.language == "en")
    assert (c.pack, c.curriculum, c.country, c.subject, c.grade, c.topic) == (
        "tiny-math", "KE-CBC", "KE", "Mathematics", 6, "halves")
    assert 0 < c.token_count <= 512
    assert len(c.sparse["indices"]) == len(c.sparse["values"]) > 0
    assert c.dense is None  # no embeddings endpoint configured


def test_reimport_replaces_the_pack_and_its_index_entries(rt, samples):
    with rt.session() as session:
        before = count(session, pack="ke-cbc-g6-math")
        old_ids = set(session.scalars(select(Chunk.id).where(Chunk.pack == "ke-cbc-g6-math")))
        first = retrieve(rt, session, "How do I work out change?", pack="ke-cbc-g6-math", lang="en")
        assert first.hits[0].topic == "money"
    data = samples["ke-cbc-g6-math"].model_dump(mode="json", exclude_none=True)
    data["topics"] = [t for t in data["topics"] if t["id"] != "money"]
    data["version"] = 2
    with rt.session() as session:
        import_pack(rt, session, Pack.model_validate(data))
    with rt.session() as session:
        assert count(session, pack="ke-cbc-g6-math", topic="money") == 0
        assert 0 < count(session, pack="ke-cbc-g6-math") < before
        assert not old_ids & set(session.scalars(select(Chunk.id).where(Chunk.pack == "ke-cbc-g6-math")))
        assert session.scalar(select(func.count()).select_from(CurriculumPack)) == 3
        topics = session.scalars(select(CurriculumTopic.topic).join(CurriculumPack).where(
            CurriculumPack.pack == "ke-cbc-g6-math"))
        assert sorted(topics) == ["decimals", "fractions-add", "place-value"]
        again = retrieve(rt, session, "How do I work out change?", pack="ke-cbc-g6-math", lang="en")
        assert all(h.topic != "money" for h in again.hits)  # this process rebuilt its collection
        # other packs are untouched
        assert count(session, pack="ug-ncdc-p5-science") > 0


def test_another_process_sees_a_reimport_on_its_next_query(db_url, tmp_path, rt, samples):
    """Two runtimes on one database stand for two processes (server and worker)."""
    other = build_runtime(Settings(_env_file=None, database_url=db_url, somo_data_dir=tmp_path))
    try:
        with other.session() as session:
            assert retrieve(other, session, "What is a numerator?", pack="ke-cbc-g6-math", lang="en").hits
            name_before = vector_index(other).collection(session, "ke-cbc-g6-math", "en").name
        data = samples["ke-cbc-g6-math"].model_dump(mode="json", exclude_none=True)
        data["topics"][1]["reference"]["en"] += " A numerator can also be called the top number of a fraction."
        with rt.session() as session:
            import_pack(rt, session, Pack.model_validate(data))
        with other.session() as session:
            built = vector_index(other).collection(session, "ke-cbc-g6-math", "en")
            assert built.name != name_before
            hits = retrieve(other, session, "What is a numerator?", pack="ke-cbc-g6-math", lang="en").hits
            assert any("top number of a fraction" in h.text for h in hits)
            assert not vector_index(other).client.collection_exists(name_before)  # the stale one is dropped
    finally:
        other.close()


def test_invalid_pack_object_is_refused_by_import(rt):
    pack = load(FIXTURES / "good" / "tiny-math.yaml")
    data = pack.model_dump(mode="json", exclude_none=True)
    data["topics"][0]["title"] = {"en": "Halves", "fr": "Moities"}
    with rt.session() as session, pytest.raises(PackInvalid) as err:
        import_pack(rt, session, Pack.model_validate(data))
    assert err.value.errors == ["topics[0].title.fr: language 'fr' is not in the pack's languages ['en', 'sw']"]


def test_cli_process_answers_while_this_process_holds_its_index(db_url, rt, samples, tmp_path):
    """The embedded default works with several processes at once: no file lock on a Qdrant path."""
    with rt.session() as session:
        assert retrieve(rt, session, "What is a numerator?", pack="ke-cbc-g6-math", lang="en").hits
    env = {**os.environ, "DATABASE_URL": db_url, "SOMO_DATA_DIR": str(tmp_path), "REDIS_URL": "", "QDRANT_URL": "",
           "OPENAI_API_KEY": ""}
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "curriculum", "ask", "--pack", "ug-ncdc-p5-science", "--json",
         "What do roots do?"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["grounded"] and answer["sources"][0]["topic"] == "flowering-plants"
    with rt.session() as session:  # and this process still answers
        assert retrieve(rt, session, "What do roots do?", pack="ug-ncdc-p5-science", lang="en").hits


def test_warm_builds_every_collection(rt, samples):
    from rag.vectors import warm

    # ke: (1 pack + 4 topics) x 2 languages; ug and zm: (1 + 4) x 1
    assert warm(rt) == 10 + 5 + 5
    index = vector_index(rt)
    with rt.session() as session:
        names = {index.collection(session, "ke-cbc-g6-math", "sw", "money").name,
                 index.collection(session, "zm-ecz-g7-math", "en").name}
    assert all(index.client.collection_exists(n) for n in names)


def test_shared_server_path_reuses_a_complete_collection(rt, samples):
    """The QDRANT_URL path, with a ":memory:" client standing in for the server (no Docker here)."""
    from qdrant_client import QdrantClient

    from rag.vectors import VectorIndex

    server = QdrantClient(":memory:")
    first, second = VectorIndex(rt, server, shared=True), VectorIndex(rt, server, shared=True)
    with rt.session() as session:
        a = first.collection(session, "zm-ecz-g7-math", "en", "ratio")
        points_before = server.count(a.name).count
        server.delete(a.name, points_selector=[next(iter(a.terms))])  # mark: a rebuild would restore it
        b = second.collection(session, "zm-ecz-g7-math", "en", "ratio")
        assert b.name == a.name and b.count == a.count
        assert server.count(a.name).count == points_before  # incomplete: rebuilt
        server.delete(a.name, points_selector=[next(iter(a.terms))])
        third = VectorIndex(rt, server, shared=True)
        third.collection(session, "zm-ecz-g7-math", "en", "ratio")
        assert server.count(a.name).count == points_before
        # a complete collection is reused as it is, not rebuilt
        fourth = VectorIndex(rt, server, shared=True)
        server.set_payload(a.name, payload={"marker": 1}, points=list(a.terms))
        fourth.collection(session, "zm-ecz-g7-math", "en", "ratio")
        got = server.retrieve(a.name, ids=list(a.terms)[:1], with_payload=True)[0]
        assert got.payload.get("marker") == 1
        hits = fourth.search(b, {"indices": [], "values": []}, None, 5)
        assert hits == []
