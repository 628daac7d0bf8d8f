"""`python -m bench.rag_eval [--database-url URL] [--chunks 10000] [--json PATH]`."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.rag_eval.evaluate import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rag_eval", description=__doc__)
    parser.add_argument("--database-url", default="", help="default: a temporary SQLite file")
    parser.add_argument("--chunks", type=int, default=10_000, help="grow the corpus to this many chunks")
    parser.add_argument("--json", dest="json_path", help="also write the figures as JSON here")
    args, _unknown = parser.parse_known_args(argv)  # `python -m bench` passes its own arguments on
    if args.chunks < 100:
        print("bench.rag_eval: --chunks must be at least 100", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="somo-rag-eval-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'eval.db'}"
        figures = run(url, grow_to=args.chunks)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
