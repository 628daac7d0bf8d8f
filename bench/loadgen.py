"""A lean HTTP/1.1 load generator on asyncio streams (keep-alive, loopback only).

httpx spends more CPU per request than a bare endpoint does, and on a 2-core machine the
generator's CPU is taken from the server: these raw connections cost a few microseconds.
`closed_loop` finds peak throughput (N connections, each sending as soon as it is
answered); `open_loop` sends on a fixed schedule whatever the answers do, as gateways do.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

HOST = "127.0.0.1"
Request = tuple[str, dict[str, str], bytes]  # path, headers, body (always POST)
MakeRequest = Callable[[int], Request]


@dataclass
class Sample:
    index: int
    sent_at: float  # wall clock, to match provider records
    client_ms: float
    server_ms: float | None
    status: int
    answer: str = ""  # the start of the response body (a USSD screen's first words)


@dataclass
class Result:
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    max_lag_ms: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Conn:
    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        head = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        got = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        payload = await self.reader.readexactly(int(got.get("content-length", "0")))
        if got.get("connection", "").lower() == "close":
            self.close()
        return status, got, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The generator's own cyclic garbage collector off while it sends.

    The benchmark process keeps every sample of every phase: by the last phases its heap held
    ~160,000 objects and a full collection paused it for 70-100 ms (logged with `gc.callbacks`),
    after which it sent the ~25 requests it owed at once. The server then saw a burst no
    gateway had sent, and its p99 at 300 USSD screens/s jumped with it. What is alive when a
    run starts is frozen (never walked again), and the few cycles a run makes wait for its end.
    """
    was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


async def _one(conn: Conn, index: int, make: MakeRequest, result: Result) -> None:
    path, headers, body = make(index)
    sent_wall, sent = time.time(), time.perf_counter()
    for attempt in (1, 2):
        reused = conn.writer is not None
        try:
            status, got, payload = await asyncio.wait_for(conn.post(path, headers, body), timeout=30)
            break
        except asyncio.IncompleteReadError as exc:
            conn.close()
            # A kept-alive connection the server closed while idle (uvicorn's keep-alive
            # timeout): no byte of an answer came, so send again on a new connection, as
            # HTTP clients do (the webhooks are idempotent by provider id anyway).
            if attempt == 1 and reused and not exc.partial:
                continue
            result.error(type(exc).__name__)
            return
        except (TimeoutError, OSError, ValueError) as exc:
            conn.close()
            result.error(type(exc).__name__)
            return
    server = got.get("x-server-time-ms")
    result.samples.append(Sample(index, sent_wall, (time.perf_counter() - sent) * 1000,
                                 float(server) if server else None, status, payload[:48].decode("utf-8", "replace")))
    if status >= 400:
        result.error(str(status))


async def closed_loop(port: int, make: MakeRequest, *, concurrency: int, seconds: float) -> Result:
    result = Result()
    counter = iter(range(10**9))
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        conn = Conn(port)
        while time.perf_counter() < deadline:
            await _one(conn, next(counter), make, result)
        conn.close()

    with collector_paused():
        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - start
    return result


async def open_loop(port: int, make: MakeRequest, *, rate: float, seconds: float, max_conns: int = 1000,
                    open_first: int = 16, schedule: list[float] | None = None) -> Result:
    """`rate` requests a second for `seconds`; a request waits for a free connection only when
    `max_conns` are all busy (then the lag shows in its client time, as a queue would).

    `open_first` connections are opened before the first request, as a gateway's pool keeps
    them: opened one at a time as the load rose, a handful of connections carried the whole
    run and the server's workers got them unevenly (uvicorn's workers accept from one socket).
    Even so the split is the kernel's and the workers' race: `bench.ussd_sweep` reports it."""
    result = Result()
    # Idle connections are reused oldest first (round robin): taking the newest one kept a few
    # hot connections, often on one uvicorn worker, whose GIL then capped the run while the
    # other worker idled (a 0.42 vs 0.15 core split at 150 USSD screens/s).
    idle: collections.deque[Conn] = collections.deque()
    slots = asyncio.Semaphore(max_conns)
    for _ in range(open_first):
        conn = Conn(port)
        conn.reader, conn.writer = await asyncio.open_connection(HOST, port)
        idle.append(conn)
        # One at a time: a burst is accepted whole by whichever worker wakes first (asyncio
        # accepts every pending connection in one go), which put all 16 on one worker.
        await asyncio.sleep(0.005)

    async def fire(index: int) -> None:
        async with slots:
            conn = idle.popleft() if idle else Conn(port)
            await _one(conn, index, make, result)
            idle.append(conn)

    tasks = []
    with collector_paused():
        start = time.perf_counter()
        # request i at i / rate, or at schedule[i] seconds (ascending) when a schedule is given
        for i in range(len(schedule) if schedule is not None else int(rate * seconds)):
            due = start + (schedule[i] if schedule is not None else i / rate)
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                result.max_lag_ms = max(result.max_lag_ms, (now - due) * 1000)
            tasks.append(asyncio.create_task(fire(i)))
        await asyncio.gather(*tasks)
        result.elapsed_s = time.perf_counter() - start
    for conn in idle:
        conn.close()
    return result


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)
