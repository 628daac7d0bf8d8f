"""Serving the real app on a free port for Playwright, and the world the browser tests use."""

from __future__ import annotations

import os
import random
import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from admin import auth
from core.models import CurriculumTopic, Role, SkillMastery
from rag.index import import_pack
from rag.validate import validate_pack_text
from tests import factories

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"
PACKS = [ROOT / "tests" / "fixtures" / "packs" / "mini-math.yaml", ROOT / "rag" / "samples" / "ke-cbc-g6-math.yaml"]
PASSWORD = "correct-horse-battery"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app):
    """uvicorn in a thread on 127.0.0.1:<free port>; yields the base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def shot(page, name: str, *, readme: bool = False) -> Path:
    """A screenshot in test-artifacts/; the README's pictures are copied to docs/img/ only when
    SOMO_README_SHOTS=1 asks (a test run leaves the checkout as it found it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if readme and os.environ.get("SOMO_README_SHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_IMG / f"{name}.png")
    return path


def seed(rt) -> dict:
    """A school with three classes, mastery to show, a school admin and a fresh student phone."""
    rng = random.Random(6)
    with rt.session() as s:
        for path in PACKS:
            pack, errors = validate_pack_text(path.read_text(encoding="utf-8"), path.name)
            assert pack is not None, errors
            import_pack(rt, s, pack)
        school = factories.school(s, name="Kilimani Primary")
        classes = [factories.school_class(s, school=school, name=n, pack=p, keyword=k, join_code=c) for n, p, k, c in (
            ("6A", "mini-math", "SIXA", "KLM6A1"), ("6B", "ke-cbc-g6-math", "SIXB", "KLM6B1"),
            ("7A", "ke-cbc-g6-math", "SEVENA", "KLM7A1"))]
        topics = [(t.pack_row.pack, t.topic) for t in s.query(CurriculumTopic).all()]
        names = ["Akinyi", "Baraka", "Chebet", "Daudi", "Esther", "Faraji", "Gathoni", "Hassan", "Imani"]
        for i, klass in enumerate(classes):
            for j, name in enumerate(names[i * 3:(i + 1) * 3]):
                st = factories.student(s, phone=f"+2547001002{i}{j}", name=name, klass=klass)
                base = 0.35 + 0.2 * i
                for pack, topic in topics:
                    s.add(SkillMastery(student_id=st.id, pack=pack, topic=topic, skill=f"{topic}-1",
                                       p_known=max(0.02, min(0.98, base + rng.uniform(-0.3, 0.3))), attempts=4,
                                       correct=2))
        factories.staff(s, role=Role.SCHOOL_ADMIN, school=school, email="head@kilimani.example",
                        password_hash=auth.hash_password(PASSWORD))
        factories.student(s, phone="+254700000301", name="Wanjiku", klass=classes[0], onboarded=False)
        return {"school": school.name, "class_id": classes[0].id, "class_name": "6A"}
