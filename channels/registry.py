"""The adapter registry: one adapter per provider, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable

from channels.base import Adapter
from core.runtime import Runtime, get_runtime
from core.settings import Settings


def _africastalking(settings: Settings) -> Adapter:
    from channels.africastalking import AfricasTalkingAdapter

    return AfricasTalkingAdapter(settings)


def _twilio(settings: Settings) -> Adapter:
    from channels.twilio import TwilioAdapter

    return TwilioAdapter(settings)


def _meta(settings: Settings) -> Adapter:
    from channels.meta import MetaAdapter

    return MetaAdapter(settings)


def _console(settings: Settings) -> Adapter:
    from channels.console import ConsoleAdapter

    return ConsoleAdapter()


BUILDERS: dict[str, Callable[[Settings], Adapter]] = {
    "africastalking": _africastalking, "twilio": _twilio, "meta": _meta, "console": _console,
}


class UnknownProvider(LookupError):
    pass


def adapter_for(provider: str, runtime: Runtime | None = None) -> Adapter:
    """The process-wide adapter for `provider` (its HTTP client is reused across sends)."""
    if provider not in BUILDERS:
        raise UnknownProvider(f"no adapter for provider {provider!r}; known: {', '.join(sorted(BUILDERS))}")
    rt = runtime or get_runtime()
    return rt.extra(f"channels.adapter.{provider}", lambda r: BUILDERS[provider](r.settings))
