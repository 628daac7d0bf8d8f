"""Garbage-collector tuning for the long-running processes (the API workers, the rq workers).

A Somo process holds a large heap that lives as long as it does (the app, its routes, the
SQLAlchemy mappers and compiled statements, the curriculum packs): about 165,000 objects in
an API worker. CPython's cyclic collector walks all of them on every full collection, which
it starts after a few thousand allocations: on this 2-core machine those pauses took 80-330
ms each at 150 USSD screens a second, with the GIL held, so every request in the process
waited (server p99 500-750 ms while the median was 5 ms).

`tune` collects once, then freezes what start-up built (`gc.freeze`: those objects are never
walked again; they are still freed by reference counting) and raises the thresholds so the
young generation, where a request's garbage is, is collected less often. Reference counting
frees almost everything a request makes; the collector is only for cycles.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("somo.gc")

DEFAULT = "10000,20,100"


def parse(spec: str) -> tuple[int, int, int] | None:
    """GC_THRESHOLDS: "off" (Python's own collector settings, nothing frozen) or three positive
    integers "gen0,gen1,gen2" (allocations before a young collection, then young collections
    before a middle one, middle before a full one)."""
    value = (spec or "").strip().lower()
    if value in ("off", "default", "none"):
        return None
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ValueError(f"GC_THRESHOLDS: expected 'off' or three positive integers like {DEFAULT!r}, got {spec!r}")
    return int(parts[0]), int(parts[1]), int(parts[2])


def tune(spec: str, *, where: str) -> bool:
    """Collect, freeze the start-up heap and set the thresholds; False when `spec` is "off"."""
    thresholds = parse(spec)
    if thresholds is None:
        return False
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
    log.info("gc tuned for %s: %d objects frozen, thresholds %s", where, gc.get_freeze_count(), thresholds)
    return True
