"""Closing a kept-alive connection after so many requests, so the API workers share the load.

uvicorn's workers accept from one listening socket, and a connection stays with the worker
that accepted it for as long as the client keeps it alive. A gateway posting over a small
pool of kept-alive connections therefore loads the workers as unevenly as its connections
happened to land when they were opened: in `make bench` one worker carried 0.44-0.74 of a
core and the other 0.12-0.28 at 300 USSD screens/s.

With `KEEPALIVE_MAX_REQUESTS` set, the answer that completes that many on one connection
carries `Connection: close` (uvicorn then closes it once the answer is sent). The client
opens a new connection, and the worker that accepts it first is the one waiting in its
event loop: the less busy one. So the split follows the load instead of the first accept
race. A client pays one TCP handshake per that many requests (nginx closes after 1,000 by
default, for other reasons).

Off by default (0): in alternated `make bench` runs 100 evened the workers' shares but did
not lower USSD p99 (in step over the aim in 3 runs of 9 with it, 1 of 10 without; round 9 in
docs/performance.md), so it is a setting for a deployment whose gateway shows the skew.

Connections are known by their peer address (`scope["client"]`), which no two open TCP
connections share; the table is emptied when it grows past `TABLE_LIMIT` (clients that closed
first leave their counts behind), which only restarts the counts.
"""

from __future__ import annotations

TABLE_LIMIT = 10_000
CLOSE = (b"connection", b"close")


class RecycleConnections:
    """Pure ASGI middleware: `Connection: close` on every `max_requests`-th answer of a connection."""

    def __init__(self, app, max_requests: int) -> None:
        self.app = app
        self.max_requests = max_requests
        self.served: dict[tuple, int] = {}

    async def __call__(self, scope, receive, send) -> None:
        peer = scope.get("client")
        if scope["type"] != "http" or self.max_requests <= 0 or not peer:
            await self.app(scope, receive, send)
            return
        key = tuple(peer)
        count = self.served.get(key, 0) + 1
        if count < self.max_requests:
            if len(self.served) >= TABLE_LIMIT and key not in self.served:
                self.served.clear()
            self.served[key] = count
            await self.app(scope, receive, send)
            return
        self.served.pop(key, None)

        async def send_closing(message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message["headers"] = [*headers, CLOSE]
            await send(message)

        await self.app(scope, receive, send_closing)
