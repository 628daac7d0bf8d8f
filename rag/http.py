"""The HTTP transport under the OpenAI client: httpx, the client the rest of Somo uses.

The openai package (3.x) ships its own fork of httpx (`httpx2`). This bridge lets it
send through a plain `httpx.Client` instead, so that one HTTP stack carries every
outbound call, its timeouts are ours (`OPENAI_TIMEOUT_S`), and tests mock the LLM and
embeddings endpoints with respx at the HTTP layer like every other provider.
"""

from __future__ import annotations

import httpx
import httpx2

# httpx error -> the httpx2 error the openai client understands (timeouts become APITimeoutError).
_ERRORS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (httpx.ConnectTimeout, httpx2.ConnectTimeout),
    (httpx.ReadTimeout, httpx2.ReadTimeout),
    (httpx.WriteTimeout, httpx2.WriteTimeout),
    (httpx.PoolTimeout, httpx2.PoolTimeout),
    (httpx.TimeoutException, httpx2.TimeoutException),
    (httpx.ConnectError, httpx2.ConnectError),
    (httpx.ReadError, httpx2.ReadError),
    (httpx.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpx.TransportError, httpx2.TransportError),
)


class HttpxBridge(httpx2.BaseTransport):
    """An httpx2 transport that sends each request with an httpx.Client."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        outgoing = self.client.build_request(
            request.method, str(request.url), headers=list(request.headers.multi_items()), content=request.read())
        try:
            response = self.client.send(outgoing)
        except httpx.TransportError as exc:
            for source, target in _ERRORS:
                if isinstance(exc, source):
                    raise target(str(exc) or type(exc).__name__, request=request) from exc
            raise
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
        return httpx2.Response(response.status_code, headers=headers, content=response.content, request=request)

    def close(self) -> None:
        self.client.close()


def openai_http_client(timeout_s: float) -> httpx2.Client:
    return httpx2.Client(transport=HttpxBridge(httpx.Client(timeout=timeout_s)), timeout=timeout_s)
