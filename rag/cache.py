"""The answer cache: Redis when configured (shared by every process), else a small in-process LRU.

Keyed by the sha256 of (normalised question, scope, language, channel budget, pack
checksum, rules digest): a re-imported pack or an edited AI rule never serves a
stale answer. A hit costs no tokens.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict

from core.runtime import Runtime
from rag.tokenize import fold

TTL_S = 24 * 3600
LRU_SIZE = 1024
PREFIX = "somo:rag:answer:"
_SPACE = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?.!,;:]+$")


def normalise(question: str) -> str:
    return _TRAILING.sub("", _SPACE.sub(" ", fold(question)).strip())


def key_for(question: str, **scope) -> str:
    payload = json.dumps({"q": normalise(question), **scope}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class _LRU:
    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: str) -> str | None:
        with self.lock:
            if key not in self.items:
                return None
            self.items.move_to_end(key)
            return self.items[key]

    def set(self, key: str, value: str) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


def _lru(runtime: Runtime) -> _LRU:
    return runtime.extra("rag_answer_cache", lambda _rt: _LRU(LRU_SIZE))


def get(runtime: Runtime, key: str) -> dict | None:
    raw = runtime.redis.get(PREFIX + key) if runtime.redis is not None else _lru(runtime).get(key)
    return json.loads(raw) if raw else None


def put(runtime: Runtime, key: str, value: dict) -> None:
    raw = json.dumps(value)
    if runtime.redis is not None:
        runtime.redis.set(PREFIX + key, raw, ex=TTL_S)
    else:
        _lru(runtime).set(key, raw)
