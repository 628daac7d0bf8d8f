"""Per-process memory of rarely changing rows, read on every message.

A `Memo` keeps values per database (URL) and key for `ttl_s`; any ORM write of one of its
models in this process forgets everything at once (so an import, an admin edit or a JOIN is
seen by the next message), and a write by another process is seen within `ttl_s`.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


def database_key(session: Session) -> str:
    """The session's database as a cache key: its URL, rendered once per engine (rendering
    it on every look-up was ~1 % of a USSD step)."""
    bind = session.get_bind()
    rendered = getattr(bind, "_somo_url_key", None)
    if rendered is None:
        rendered = str(bind.url)
        try:
            bind._somo_url_key = rendered
        except AttributeError:  # a bind that takes no attributes: rendered each time
            pass
    return rendered


def forget_on_write(forget: Callable[[], None], *models: type) -> None:
    """Call `forget` after any ORM insert, update or delete of one of `models`."""
    for model in models:
        for what in ("after_insert", "after_update", "after_delete"):
            event.listen(model, what, lambda _mapper, _connection, _target: forget())


class Memo:
    def __init__(self, ttl_s: float, *models: type, max_entries: int = 50_000) -> None:
        self.ttl_s, self.max_entries = ttl_s, max_entries
        self._values: OrderedDict[tuple[str, Any], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        forget_on_write(self.forget, *models)

    def get(self, session: Session, key: Any, load: Callable[[], Any]) -> Any:
        full = (database_key(session), key)
        hit = self._values.get(full)
        if hit is not None and time.monotonic() - hit[0] <= self.ttl_s:
            return hit[1]
        value = load()
        with self._lock:
            self._values[full] = (time.monotonic(), value)
            self._values.move_to_end(full)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)
        return value

    def put(self, session: Session, key: Any, value: Any) -> None:
        """Remember a value the caller read anyway (in a statement of its own)."""
        with self._lock:
            self._values[(database_key(session), key)] = (time.monotonic(), value)

    def forget(self) -> None:
        with self._lock:
            self._values.clear()
