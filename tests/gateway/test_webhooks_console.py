"""The console channel renders exactly as the target channel would (simulator and `somo chat`)."""

from __future__ import annotations

import pytest

from channels.sms import count_segments


@pytest.mark.parametrize("channel", ["ussd", "sms", "whatsapp"])
def test_console_renders_like_the_channel(client, channel):
    res = client.post("/webhooks/console", json={"phone": "0711000777", "text": "", "channel": channel,
                                                 "session_id": "chat-1" if channel == "ussd" else None})
    assert res.status_code == 200
    replies = res.json()["replies"]
    assert replies
    if channel == "ussd":
        assert len(replies) >= 1 and replies[0].startswith(("CON ", "END ")) and len(replies[0]) <= 160
    elif channel == "sms":
        assert all(count_segments(part) == 1 for part in replies)
    else:
        assert all(len(text) <= 1600 for text in replies)


def test_console_refuses_a_bad_phone(client):
    res = client.post("/webhooks/console", json={"phone": "12", "text": "hi"})
    assert res.status_code == 400 and res.json()["error"].startswith("phone:")
