"""`python -m bench`: run every benchmark module in this folder, one after another, and print its figures.

`make bench` runs only `bench.flow`, the whole-flow report (see docs/performance.md).

Each module runs in its own process (`python -m bench.<name>`) so one's servers and
settings cannot leak into the next; extra arguments are passed to every module.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


# Building blocks the benchmarks import, not benchmarks themselves.
HELPERS = {"bare", "lessons", "loadgen", "mockprovider", "report", "scenario", "stack"}


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_") and p.stem not in HELPERS)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    failed = []
    for name in modules():
        print(f"== bench.{name}", flush=True)
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *argv], cwd=HERE.parent)
        if code:
            failed.append(f"{name} (exit {code})")
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
