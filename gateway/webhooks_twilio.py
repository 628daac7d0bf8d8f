"""Twilio webhooks: inbound SMS and WhatsApp, and status callbacks.

The signature is checked over the URL Twilio called (rebuilt from PUBLIC_BASE_URL, so
it holds behind a proxy) and every POST parameter received. An inbound message is
acked with empty TwiML once stored; the reply goes out through the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from channels import twilio
from channels.base import InvalidPayload
from channels.receipts import apply_status
from gateway.deps import RuntimeDep
from gateway.errors import BadRequest
from gateway.pipeline import accept_message
from gateway.security import verify_twilio
from gateway.webhooks_body import RawBody, parse_form

router = APIRouter(prefix="/webhooks/twilio", tags=["twilio"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def _verified_form(rt, request: Request, body: bytes) -> dict[str, str]:
    form = parse_form(body)
    verify_twilio(rt.settings, request.url.path, request.url.query, form, request.headers.get("X-Twilio-Signature"))
    return form


@router.post("/messages")
def messages(request: Request, body: RawBody, rt: RuntimeDep) -> Response:
    form = _verified_form(rt, request, body)
    try:
        inbound = twilio.parse_message(form, rt.settings.default_country)
    except InvalidPayload as exc:
        raise BadRequest(str(exc)) from exc
    accept_message(rt, inbound)
    return Response(EMPTY_TWIML, media_type="text/xml")


@router.post("/status")
def status(request: Request, body: RawBody, rt: RuntimeDep) -> Response:
    form = _verified_form(rt, request, body)
    try:
        update = twilio.parse_status(form)
    except InvalidPayload as exc:
        raise BadRequest(str(exc)) from exc
    with rt.session() as session:
        apply_status(session, twilio.PROVIDER, update, form)
    return Response(status_code=204)
