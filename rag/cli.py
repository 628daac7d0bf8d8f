"""`somo curriculum import PATH... | list | ask [--pack P] [--topic T] [--lang L] [--json] "question"`.

For content authors: `import` validates each file and reports every error with its
path (good files still import), `list` shows what is loaded, and `ask` shows what the
tutor would answer, with its sources (pack, topic, section) and retrieval scores.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

CHANNEL_BUDGETS = {"sms": 459, "ussd": 160, "whatsapp": 1000, "console": 1000}


class _Fail(Exception):
    pass


def register(subparsers) -> None:
    p = subparsers.add_parser("curriculum", help="curriculum packs: import, list, ask")
    sub = p.add_subparsers(dest="action", required=True)
    imp = sub.add_parser("import", help="validate, chunk and index pack files (or folders of them)")
    imp.add_argument("paths", nargs="+")
    imp.set_defaults(func=_run(cmd_import))
    lst = sub.add_parser("list", help="show the imported packs")
    lst.set_defaults(func=_run(cmd_list))
    ask = sub.add_parser("ask", help="what the tutor would answer, with sources and scores")
    ask.add_argument("question")
    ask.add_argument("--pack")
    ask.add_argument("--topic")
    ask.add_argument("--lang", default="en")
    ask.add_argument("--channel", choices=sorted(CHANNEL_BUDGETS), default="whatsapp")
    ask.add_argument("--budget", type=int, help="answer length budget in characters (default: the channel's)")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    ask.set_defaults(func=_run(cmd_ask))


def _run(func):
    def wrapper(args: argparse.Namespace) -> int:
        from sqlalchemy.exc import OperationalError, ProgrammingError

        try:
            return func(args)
        except _Fail as exc:
            print(f"somo: {exc}", file=sys.stderr)
            return 2
        except (OperationalError, ProgrammingError) as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            print(f"somo: the database is not ready ({reason}); run: somo db upgrade", file=sys.stderr)
            return 2
    return wrapper


def _files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
            if not found:
                raise _Fail(f"{path}: no .yaml or .yml files in this folder")
            out.extend(found)
        elif path.is_file():
            out.append(path)
        else:
            raise _Fail(f"{path}: no such file or folder")
    return out


def cmd_import(args) -> int:
    from core.runtime import get_runtime
    from rag.index import import_pack
    from rag.validate import validate_pack_text, warnings_for

    rt = get_runtime()
    bad = 0
    for path in _files(args.paths):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            print(f"{path}: not UTF-8 text (byte {exc.start})", file=sys.stderr)
            bad += 1
            continue
        pack, errors = validate_pack_text(text, str(path))
        if pack is None:
            bad += 1
            for err in errors:
                print(f"{path}: {err}", file=sys.stderr)
            print(f"{path}: rejected ({len(errors)} error(s))", file=sys.stderr)
            continue
        for warning in warnings_for(pack):
            print(f"{path}: warning: {warning}", file=sys.stderr)
        with rt.session() as session:
            row = import_pack(rt, session, pack)
            chunks = len(row.topics) and _chunk_count(session, row.id)
        print(f"{path}: imported {pack.pack} ({len(pack.topics)} topics, {chunks} passages, "
              f"{', '.join(pack.languages)})")
    return 1 if bad else 0


def _chunk_count(session, pack_id: int) -> int:
    from sqlalchemy import func, select

    from core.models import Chunk

    return session.scalar(select(func.count()).select_from(Chunk).where(Chunk.pack_id == pack_id)) or 0


def cmd_list(args) -> int:
    from core.runtime import get_runtime
    from rag.store import list_packs

    rt = get_runtime()
    with rt.session() as session:
        rows = list_packs(session)
        if not rows:
            print("no curriculum packs imported; try: somo curriculum import rag/samples")
            return 0
        print(f"{'pack':<24} {'curriculum':<10} {'country':<7} {'subject':<16} {'grade':>5} "
              f"{'languages':<10} {'topics':>6} {'passages':>8} status")
        for r in rows:
            print(f"{r.pack:<24} {r.curriculum:<10} {r.country:<7} {r.subject[:16]:<16} {r.grade:>5} "
                  f"{','.join(r.languages):<10} {len(r.topics):>6} {_chunk_count(session, r.id):>8} {r.index_status}")
    return 0


def cmd_ask(args) -> int:
    from core.runtime import get_runtime
    from rag.answering import answer_question
    from rag.retrieve import pack_ids, retrieve
    from rag.store import get_pack

    if not args.question.strip():
        raise _Fail("the question is empty")
    budget = args.budget or CHANNEL_BUDGETS[args.channel]
    if budget < 20:
        raise _Fail(f"--budget must be at least 20 characters, got {budget}")
    rt = get_runtime()
    with rt.session() as session:
        pack = args.pack
        if pack is None:
            if not pack_ids(session):
                raise _Fail("no curriculum packs imported; try: somo curriculum import rag/samples")
            best = retrieve(rt, session, args.question, lang=args.lang, allow_network=False)
            if not best.hits:
                raise _Fail("no pack has a passage for this question; name one with --pack")
            pack = best.hits[0].pack
        loaded = get_pack(session, pack)
        if loaded is None:
            raise _Fail(f"--pack {pack!r}: no such pack; see: somo curriculum list")
        if args.topic and loaded.topic(args.topic) is None:
            raise _Fail(f"--topic {args.topic!r}: pack {pack} has topics {[t.id for t in loaded.topics]}")
        answer = answer_question(rt, session, args.question, pack=pack, topic=args.topic, lang=args.lang,
                                 budget_chars=budget, channel=args.channel)
    if args.json:
        print(json.dumps({"pack": pack, **asdict(answer)}, ensure_ascii=False, indent=2))
        return 0
    print(answer.text)
    print()
    flags = [k for k in ("grounded", "off_topic", "injection", "used_llm", "fell_back", "cached") if getattr(answer, k)]
    print(f"pack {pack} | scope {answer.scope or '-'} | retrieval {answer.retrieval_ms} ms | {' '.join(flags)}")
    if answer.used_llm:
        print(f"tokens in {answer.tokens_in}, out {answer.tokens_out}, cost ${answer.cost_usd:.6f}")
    if answer.error:
        print(f"LLM not used: {answer.error}")
    for i, s in enumerate(answer.sources, 1):
        print(f"  {i}. {s.pack} / {s.topic} / {s.section}  score {s.score:.4f}  coverage {s.coverage:.2f}  "
              f"chunk {s.chunk_id}")
    return 0
