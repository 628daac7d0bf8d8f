"""Per-process Qdrant collections, rebuilt from the `Chunk` rows when a pack changes.

Why this shape (two facts measured about qdrant-client's local mode): a local *path* is
locked by the first process that opens it, so the server, the worker and the CLI could
not share one; and its payload filters run in Python point by point (~84 ms at 10,000
points against ~6 ms unfiltered). So the relational database holds the chunks and
their vectors, and each process keeps `QdrantClient(":memory:")` collections, one per
(pack, language) for subject scope and one per (pack, language, topic) for topic
scope: scoping picks a collection instead of filtering points. A collection's name
carries the pack checksum, so a re-import is noticed by every process on its next
query (one indexed lookup of the checksum) and the stale collection is dropped.

With `QDRANT_URL` set the same code talks to a server: collections are shared, and a
process that finds a complete collection under the current checksum reuses it
instead of rebuilding. (Tests cannot run a server here; the server path is the same
client API, covered in ":memory:" mode.)
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Chunk, CurriculumPack
from core.runtime import Runtime

SPARSE = "bm25"
DENSE = "dense"


@dataclass
class Built:
    """One collection as this process knows it."""

    name: str
    checksum: str
    count: int
    dense_dims: int | None
    df: dict[int, int] = field(default_factory=dict)  # term id -> documents holding it
    terms: dict[int, frozenset[int]] = field(default_factory=dict)  # chunk id -> its term ids

    def idf(self, term: int) -> float:
        """Qdrant's IDF formula, so our coverage measure weighs terms as the index does."""
        n = self.df.get(term, 0)
        return math.log(1 + (self.count - n + 0.5) / (n + 0.5))


class VectorIndex:
    """The process's Qdrant client and the collections it has built."""

    def __init__(self, runtime: Runtime, client=None, shared: bool | None = None):
        """`client` and `shared` stand in for a server in tests (a ":memory:" client shared by two indexes)."""
        from qdrant_client import QdrantClient

        s = runtime.settings
        if client is not None:
            self.client, self.shared = client, bool(shared)
        elif s.qdrant_url:
            self.client = QdrantClient(url=s.qdrant_url, api_key=s.qdrant_api_key.get_secret_value() or None)
            self.shared = True
        else:
            self.client = QdrantClient(":memory:")
            self.shared = False
        self._built: dict[tuple[str, str, str], Built] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def collection(self, session: Session, pack: str, lang: str, topic: str | None = None) -> Built | None:
        """The up-to-date collection for this scope, built if needed; None when it has no chunks."""
        head = session.execute(
            select(CurriculumPack.id, CurriculumPack.checksum).where(CurriculumPack.pack == pack)
        ).first()
        if head is None:
            return None
        key = (pack, lang, topic or "*")
        built = self._built.get(key)
        if built is not None and built.checksum == head.checksum:
            return built if built.count else None
        with self._lock:
            built = self._built.get(key)
            if built is None or built.checksum != head.checksum:
                fresh = self._build(session, head.id, head.checksum, key)
                if built is not None and built.name != fresh.name and not self.shared:
                    self.client.delete_collection(built.name)
                self._built[key] = built = fresh
        return built if built.count else None

    def _build(self, session: Session, pack_id: int, checksum: str, key: tuple[str, str, str]) -> Built:
        from qdrant_client import models

        pack, lang, topic = key
        query = select(Chunk.id, Chunk.topic, Chunk.section, Chunk.position, Chunk.text, Chunk.sparse,
                       Chunk.dense).where(Chunk.pack_id == pack_id, Chunk.language == lang)
        if topic != "*":
            query = query.where(Chunk.topic == topic)
        rows = session.execute(query.order_by(Chunk.id)).all()
        dims = len(rows[0].dense) if rows and rows[0].dense and all(r.dense for r in rows) else None
        scope = "all" if topic == "*" else topic
        name = f"somo_{pack}_{lang}_{scope}_{checksum[:12]}"
        built = Built(name=name, checksum=checksum, count=len(rows), dense_dims=dims)
        for r in rows:
            terms = frozenset(r.sparse.get("indices", []))
            built.terms[r.id] = terms
            for t in terms:
                built.df[t] = built.df.get(t, 0) + 1
        if not rows:
            return built
        if self.shared and self.client.collection_exists(name) and self.client.count(name).count == len(rows):
            return built  # another process built it under this checksum
        vectors = {DENSE: models.VectorParams(size=dims, distance=models.Distance.COSINE)} if dims else {}
        if self.client.collection_exists(name):
            self.client.delete_collection(name)
        self.client.create_collection(name, vectors_config=vectors, sparse_vectors_config={
            SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)})
        points = []
        for r in rows:
            vector = {SPARSE: models.SparseVector(indices=r.sparse["indices"], values=r.sparse["values"])}
            if dims:
                vector[DENSE] = r.dense
            points.append(models.PointStruct(id=r.id, vector=vector, payload={
                "pack": pack, "language": lang, "topic": r.topic, "section": r.section,
                "position": r.position, "text": r.text}))
        for start in range(0, len(points), 512):
            self.client.upsert(name, points=points[start:start + 512], wait=True)
        return built

    def search(self, built: Built, sparse: dict, dense: list[float] | None, limit: int):
        """Top `limit` points: BM25 alone, or RRF fusion of BM25 and dense when both exist."""
        from qdrant_client import models

        sv = models.SparseVector(indices=sparse["indices"], values=sparse["values"])
        if dense is not None and built.dense_dims == len(dense):
            result = self.client.query_points(built.name, prefetch=[
                models.Prefetch(query=sv, using=SPARSE, limit=max(20, limit)),
                models.Prefetch(query=dense, using=DENSE, limit=max(20, limit)),
            ], query=models.FusionQuery(fusion=models.Fusion.RRF), limit=limit, with_payload=True)
        else:
            if not sparse["indices"]:
                return []
            result = self.client.query_points(built.name, query=sv, using=SPARSE, limit=limit, with_payload=True)
        return result.points


def vector_index(runtime: Runtime) -> VectorIndex:
    return runtime.extra("qdrant", VectorIndex)


def warm(runtime: Runtime) -> int:
    """Build every collection (each pack, language and topic) now, so the first student question in
    this process, perhaps on the USSD path, does not pay for it. Returns the number of collections."""
    index = vector_index(runtime)
    built = 0
    with runtime.session() as session:
        for pack, languages in session.execute(select(CurriculumPack.pack, CurriculumPack.languages)):
            topics = set(session.scalars(select(Chunk.topic).where(Chunk.pack == pack).distinct()))
            for lang in languages or []:
                for topic in [None, *sorted(topics)]:
                    built += index.collection(session, pack, lang, topic) is not None
    return built
