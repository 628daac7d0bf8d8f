"""Curriculum packs: upload (validated, with the path of each error), index status, and an
"ask" box showing what the tutor would answer."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from admin import audit
from admin.deps import AuthDep, FormDep, FormInvalid, RuntimeDep, SessionDep, text_field, upload_text
from admin.templating import render
from core.i18n import LANGUAGES
from core.models import Chunk, CurriculumPack
from rag import store
from rag.answering import answer_question
from rag.index import import_pack
from rag.validate import validate_pack_text

router = APIRouter()


def _page(request, session, who, *, status: int = 200, **extra) -> Response:
    packs = store.list_packs(session)
    chunks = dict(session.execute(select(Chunk.pack_id, func.count()).group_by(Chunk.pack_id)).all())
    ctx = {"packs": packs, "chunks": chunks, "errors": [], "uploaded": None, "answer": None, "question": "",
           "languages": LANGUAGES, "source": ""}
    ctx.update(extra)
    return render(request, "curriculum.html", ctx, who=who, active="curriculum", status=status)


@router.get("/curriculum")
def curriculum(request: Request, session: SessionDep, who: AuthDep) -> Response:
    return _page(request, session, who)


@router.post("/curriculum")
def upload(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    """Packs are shared by every school, so only admins (not teachers) may replace one."""
    who.scope.require_manager()
    upload_file = form.get("pack_file")
    name = getattr(upload_file, "filename", "") or "pack.yaml"
    text = upload_text(upload_file, "pack_file")
    pack, errors = validate_pack_text(text, name)
    if pack is None:
        return _page(request, session, who, errors=errors, source=name, status=400)
    try:
        row = import_pack(rt, session, pack)
    except ValueError as exc:  # rag.validate.PackInvalid and friends carry their own paths
        return _page(request, session, who, errors=list(getattr(exc, "errors", [str(exc)])), source=name, status=400)
    audit.record(session, who.user, "curriculum.import", object_type="pack", object_id=row.pack, school_id=None,
                 after={"pack": row.pack, "version": row.version, "checksum": row.checksum}, ip=who.ip)
    return _page(request, session, who, uploaded=row)


@router.post("/curriculum/ask")
def ask(request: Request, rt: RuntimeDep, session: SessionDep, who: AuthDep, form: FormDep) -> Response:
    pack_id = text_field(form, "pack", max_len=80)
    if session.scalar(select(CurriculumPack.id).where(CurriculumPack.pack == pack_id)) is None:
        raise FormInvalid(f"pack: no pack called {pack_id!r}")
    lang = text_field(form, "lang", max_len=8, default="en")
    if lang not in LANGUAGES:
        raise FormInvalid(f"lang: must be one of {', '.join(LANGUAGES)}, got {lang!r}")
    question = text_field(form, "question", max_len=500)
    answer = answer_question(rt, session, question, pack=pack_id,
                             topic=text_field(form, "topic", max_len=80, required=False) or None,
                             lang=lang, budget_chars=900, channel="sms", allow_llm=False)
    return _page(request, session, who, answer=answer, question=question)
