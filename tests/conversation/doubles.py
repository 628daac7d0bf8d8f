"""Test doubles that plug into the engine's public seams (never patches of our functions)."""

from __future__ import annotations


def explode_on_boom(runtime, session, inbound, contact):
    """A pre-handler with a bug: it fails on the word 'boom' and passes everything else on."""
    if inbound.text.strip().lower() == "boom":
        raise RuntimeError("pre-handler bug")
    return None
