"""The FastAPI app: webhook routes, health, metrics, app factory, CLI."""
