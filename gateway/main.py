"""ASGI entry point for uvicorn: `gateway.main:app`."""

from core.observability import configure_logging
from gateway.app import create_app

app = create_app()
configure_logging(app.state.runtime.settings)  # JSON lines, phones masked, secrets scrubbed
