"""The load generator's own pauses must not become the server's bursts."""

from __future__ import annotations

import asyncio
import gc

from bench import loadgen


def test_the_generators_collector_is_off_while_it_sends_and_back_after():
    seen: list[tuple[bool, int]] = []

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        seen.append((gc.isenabled(), gc.get_freeze_count()))  # a request came: the collector off, the heap frozen
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Server-Time-Ms: 0.5\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def run():
        server = await asyncio.start_server(serve, loadgen.HOST, 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await loadgen.open_loop(port, lambda i: ("/x", {}, b""), rate=50, seconds=0.1, open_first=1)

    assert gc.isenabled()
    result = asyncio.run(run())
    assert [s.status for s in result.samples] == [200] * 5 and result.samples[0].server_ms == 0.5
    assert seen and all(not enabled and frozen > 0 for enabled, frozen in seen), seen
    assert gc.isenabled() and gc.get_freeze_count() == 0  # as it was, for the rest of the process


def test_a_generator_with_the_collector_already_off_leaves_it_off():
    gc.disable()
    try:
        with loadgen.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.enable()
