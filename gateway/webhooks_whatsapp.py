"""Meta WhatsApp Cloud API webhook: the GET verify handshake and signed POST events."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from channels import meta
from channels.base import InvalidPayload
from channels.receipts import apply_status, record_event
from gateway.deps import RuntimeDep
from gateway.errors import BadRequest
from gateway.pipeline import accept_messages
from gateway.security import verify_meta, verify_meta_handshake
from gateway.webhooks_body import RawBody, parse_json

router = APIRouter(tags=["whatsapp"])


@router.get("/webhooks/whatsapp", response_class=PlainTextResponse)
def verify(
    rt: RuntimeDep,
    mode: str | None = Query(None, alias="hub.mode"),
    token: str | None = Query(None, alias="hub.verify_token"),
    challenge: str | None = Query(None, alias="hub.challenge", max_length=200),
) -> PlainTextResponse:
    verify_meta_handshake(rt.settings, mode, token)
    if not challenge:
        raise BadRequest("hub.challenge: missing")
    return PlainTextResponse(challenge)


@router.post("/webhooks/whatsapp")
def events(request: Request, body: RawBody, rt: RuntimeDep) -> Response:
    verify_meta(rt.settings, request.url.path, body, request.headers.get("X-Hub-Signature-256"))
    try:
        batch = meta.parse_events(parse_json(body), phone_number_id=rt.settings.whatsapp_phone_number_id,
                                  default_country=rt.settings.default_country)
    except InvalidPayload as exc:
        raise BadRequest(str(exc)) from exc

    def receipts(session) -> None:
        for update, raw in batch.statuses:
            apply_status(session, meta.PROVIDER, update, raw)
        for wamid, why in batch.skipped:
            record_event(session, meta.PROVIDER, "skipped", wamid, why)

    accept_messages(rt, batch.messages, on_session=receipts)
    return Response(status_code=200)
