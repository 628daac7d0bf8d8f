"""The phone simulator at `/`: the demo's front page. Anyone can talk to Somo as a student over
SMS, USSD or WhatsApp rendering; the page's script posts to the console webhook."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin.security import header_pairs, is_https
from admin.templating import env

router = APIRouter(include_in_schema=False)
DEFAULT_PHONE = "+254700000001"  # Amina, a demo student (core/demo.py)


@router.get("/", response_class=HTMLResponse)
def simulator(request: Request) -> HTMLResponse:
    settings = request.app.state.runtime.settings
    html = env.get_template("simulator.html").render(default_phone=DEFAULT_PHONE)
    response = HTMLResponse(html)
    for key, value in header_pairs(is_https(request.scope, settings.public_base_url)):
        response.headers[key.decode()] = value.decode()
    return response
