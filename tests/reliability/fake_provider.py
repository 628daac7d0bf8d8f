"""A loopback Africa's Talking send API in a thread, for tests whose workers are real processes
(respx/responses only mock inside the test process). It records every text it was asked to
send, and can hold its answer to simulate a slow provider."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeAfricasTalking:
    def __init__(self, answer: dict, *, delay_s: float = 0.0):
        self.answer = json.dumps(answer).encode()
        self.delay_s = delay_s
        self.bodies: list[str] = []
        self.arrived = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                fake.bodies.append(form.get("message", [""])[0])
                fake.arrived.set()
                if fake.delay_s:
                    threading.Event().wait(fake.delay_s)
                try:
                    self.send_response(201)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(fake.answer)))
                    self.end_headers()
                    self.wfile.write(fake.answer)
                except OSError:  # the caller died while we waited
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeAfricasTalking:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
