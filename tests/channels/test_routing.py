"""Which channel and provider reach a contact when Somo speaks first."""

from __future__ import annotations

from channels.routing import prefill, route_for
from core.models import Message
from tests import factories
from tests.conftest import make_runtime
from tests.gateway.conftest import PROVIDER_SETTINGS


def _inbound(s, contact_id, channel, provider):
    s.add(Message(direction="in", channel=channel, provider=provider, phone="+254711000000",
                  contact_id=contact_id, status="handled"))


def test_last_provider_wins_then_configured_then_console(db_url, tmp_path):
    rt = make_runtime(db_url, tmp_path=tmp_path, **PROVIDER_SETTINGS)
    bare = make_runtime(db_url, tmp_path=tmp_path)
    with rt.session() as s:
        a, b, c = (factories.contact(s).id for _ in range(3))
        _inbound(s, a, "sms", "africastalking")
        _inbound(s, a, "sms", "twilio")  # the newest wins
        _inbound(s, b, "whatsapp", "meta")
        _inbound(s, c, "sms", "console")  # the console is never a route to a real phone
        s.flush()
        cache = prefill(s, [a, b, c])
        assert cache[(a, "sms")] == "twilio" and cache[(b, "whatsapp")] == "meta" and cache[(c, "sms")] is None
        for last_seen in (None, cache):  # the batch cache answers exactly as the per-contact query
            assert route_for(s, rt.settings, contact_id=a, channel="sms", last_seen=last_seen).provider == "twilio"
            assert route_for(s, rt.settings, contact_id=a, channel="ussd", last_seen=last_seen) == (
                route_for(s, rt.settings, contact_id=a, channel="sms"))  # USSD cannot be pushed: SMS
            assert route_for(s, rt.settings, contact_id=b, channel="whatsapp", last_seen=last_seen).provider == "meta"
            assert route_for(s, rt.settings, contact_id=c, channel="sms", last_seen=last_seen).provider == (
                "africastalking")  # configured
    with bare.session() as s:
        route = route_for(s, bare.settings, contact_id=c, channel="whatsapp")
        assert (route.channel, route.provider) == ("whatsapp", "console")  # the demo keeps WhatsApp rendering
    rt.close()
    bare.close()
