"""Africa's Talking webhooks: USSD (synchronous), inbound SMS, USSD session ends, delivery reports, opt-outs.

Each route: verify the token (and source IP), parse, store, then answer. The USSD
answer is the screen itself (`text/plain`, `CON `/`END `); the others answer 200 at
once, AT re-posting inbound SMS until it gets one.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from starlette.routing import Match, Route

from channels import africastalking as at
from channels.base import InvalidPayload
from channels.receipts import apply_status, mark_opted_out, record_event
from gateway.deps import RuntimeDep
from gateway.errors import BadRequest
from gateway.offload import in_thread
from gateway.pipeline import accept_message, handle_ussd
from gateway.security import verify_africastalking
from gateway.webhooks_body import RawBody, parse_form, raw_body

router = APIRouter(prefix="/webhooks/africastalking", tags=["africastalking"])


def _form(rt, request: Request, body: bytes) -> dict[str, str]:
    client_ip = request.client.host if request.client else None
    # scope["path"], not request.url.path: building the URL object cost more than the check
    verify_africastalking(rt.settings, request.scope["path"], request.query_params.get("token"), client_ip)
    return parse_form(body)


def _parsed(parse, *args):
    try:
        return parse(*args)
    except InvalidPayload as exc:
        raise BadRequest(str(exc)) from exc


@router.post("/ussd", response_class=PlainTextResponse)
async def ussd(request: Request) -> PlainTextResponse:
    """Synchronous for the caller: the screen is the answer. Shaped like the SMS route (no
    dependencies to solve, the body read on the event loop, one threadpool hop)."""
    body = await raw_body(request)
    return PlainTextResponse(await in_thread(_ussd_step, request.app.state.runtime, request, body))


def _ussd_step(rt, request: Request, body: bytes) -> str:
    form = _form(rt, request, body)
    return handle_ussd(rt, _parsed(at.parse_ussd, form, rt.settings.default_country))


@router.post("/sms", response_class=PlainTextResponse)
async def sms(request: Request) -> PlainTextResponse:
    """The busiest route, shaped like the one-INSERT floor (bench.bare): no dependencies to
    solve, the body read on the event loop, one threadpool hop for the blocking part."""
    body = await raw_body(request)
    await in_thread(_accept_sms, request.app.state.runtime, request, body)
    return PlainTextResponse("")


def _accept_sms(rt, request: Request, body: bytes) -> None:
    form = _form(rt, request, body)
    accept_message(rt, _parsed(at.parse_sms, form, rt.settings.default_country))


class DirectRoute(Route):
    """A POST route served by Starlette's plain handler, ahead of FastAPI's router.

    For the two busiest webhooks (a USSD step, an inbound SMS): their endpoints take the bare
    `Request` and solve no dependencies, yet FastAPI's routing and request handling were about
    a third of each one's ASGI request path (py-spy of the API workers at 250 screens/s), and
    this saves 0.12-0.33 ms of CPU per USSD step (`bench.route_ab`). The same endpoint is also
    on `router` (OpenAPI lists it); this copy answers the POST first.
    Anything else (another method, a path with a trailing slash) falls through to FastAPI, so
    405s and redirects read as before. Exceptions reach the app's handlers as before.
    """

    def __init__(self, path: str, endpoint) -> None:
        super().__init__(path, endpoint, methods=["POST"], include_in_schema=False)

    def matches(self, scope):
        if scope["type"] != "http" or scope["method"] != "POST":
            return Match.NONE, {}
        path, root = scope["path"], scope.get("root_path", "")
        if (path[len(root):] if root and path.startswith(root) else path) != self.path:
            return Match.NONE, {}
        return Match.FULL, {"endpoint": self.endpoint, "path_params": {}, "route": self}


def direct_routes() -> list[DirectRoute]:
    return [DirectRoute(router.prefix + "/ussd", ussd), DirectRoute(router.prefix + "/sms", sms)]


@router.post("/ussd/events", response_class=PlainTextResponse)
def ussd_events(request: Request, body: RawBody, rt: RuntimeDep) -> PlainTextResponse:
    form = _form(rt, request, body)
    event = _parsed(at.parse_ussd_end, form, rt.settings.default_country)
    with rt.session() as session:
        record_event(session, at.PROVIDER, "ussd_end", event["sessionId"], event)
    return PlainTextResponse("")


@router.post("/delivery", response_class=PlainTextResponse)
def delivery(request: Request, body: RawBody, rt: RuntimeDep) -> PlainTextResponse:
    form = _form(rt, request, body)
    update = _parsed(at.parse_delivery, form)
    with rt.session() as session:
        apply_status(session, at.PROVIDER, update, form)
    return PlainTextResponse("")


@router.post("/optout", response_class=PlainTextResponse)
def optout(request: Request, body: RawBody, rt: RuntimeDep) -> PlainTextResponse:
    form = _form(rt, request, body)
    phone = _parsed(at.parse_optout, form, rt.settings.default_country)
    with rt.session() as session:
        if record_event(session, at.PROVIDER, "optout", f"{form['senderId']}:{phone}", form):
            mark_opted_out(session, phone, reason=f"africastalking opt-out from sender {form['senderId']}")
    return PlainTextResponse("")
