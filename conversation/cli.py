"""`somo conversation diagram [--write]`: the state diagram, generated from the transition table.

Prints the Mermaid text, or with --write puts it into docs/conversation.md between its
markers (a test fails when the doc and the table disagree).
"""

from __future__ import annotations

import sys
from pathlib import Path

from conversation.states import mermaid

DOC = Path(__file__).resolve().parent.parent / "docs" / "conversation.md"
START, END = "<!-- state-diagram:start (generated: somo conversation diagram --write) -->", "<!-- state-diagram:end -->"


def block() -> str:
    return f"{START}\n```mermaid\n{mermaid()}```\n{END}"


def current_block(text: str) -> str | None:
    if START not in text or END not in text:
        return None
    return text[text.index(START):text.index(END) + len(END)]


def write_doc(path: Path = DOC) -> bool:
    """Refresh the diagram in the doc; True when it changed."""
    text = path.read_text(encoding="utf-8")
    old = current_block(text)
    if old is None:
        raise ValueError(f"{path}: the markers {START!r} and {END!r} are missing")
    if old == block():
        return False
    path.write_text(text.replace(old, block()), encoding="utf-8")
    return True


def cmd_diagram(args) -> int:
    if args.write:
        try:
            changed = write_doc()
        except (OSError, ValueError) as exc:
            print(f"somo: {exc}", file=sys.stderr)
            return 2
        print(f"{DOC.name}: {'updated' if changed else 'already current'}")
    else:
        print(mermaid(), end="")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("conversation", help="the conversation state machine")
    sub = p.add_subparsers(dest="conversation_command", required=True)
    d = sub.add_parser("diagram", help="print the state diagram (Mermaid), or --write it into docs/conversation.md")
    d.add_argument("--write", action="store_true")
    d.set_defaults(func=cmd_diagram)
