"""What a serving process builds before its first request: the answer path's clients.

Measured in `make bench`: a question is the first use of qdrant-client (~1 s to import) and,
with an LLM configured, of the openai package (~1 s more). In a process that waited for the
first question to pay for them, the reply to that question and to every message queued
behind it (an rq worker takes one job at a time) came up to two seconds late, and a USSD
question would have missed the operator's deadline. So the API (at start-up) and `somo
worker` (before it takes jobs) call `warm_on_start`.
"""

from __future__ import annotations

import logging
import time

from core.runtime import Runtime
from rag import llm
from rag.vectors import warm

log = logging.getLogger("somo.rag.warmup")


def warm_on_start(runtime: Runtime, where: str) -> int | None:
    """Build every search collection (`rag.vectors.warm`) and, when an LLM is configured, its
    client. A failure (the database not up yet, a broken pack) is logged, not raised: the
    process still serves, and the first question builds what it needs. Returns the number of
    collections built, or None when warming failed."""
    started = time.perf_counter()
    try:
        if llm.chat_enabled(runtime):
            llm.client(runtime)  # imports openai and opens the HTTP client; sends nothing
        built = warm(runtime)
    except Exception as exc:  # noqa: BLE001 - start-up must not fail on the answer path
        log.warning("answer path not warmed (%s): %s; the first question builds it", where, exc)
        return None
    log.info("answer path warmed (%s): %d search collections%s in %.2f s", where, built,
             ", the LLM client" if llm.chat_enabled(runtime) else "", time.perf_counter() - started)
    return built
