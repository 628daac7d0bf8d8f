"""The modes by name: the conversation engine asks `get_mode("teach")` and drives the result."""

from __future__ import annotations

from importlib import import_module

from modes.base import Mode

_MODES = {
    "teach": ("modes.teach", "TeachMode"),
    "explore": ("modes.explore", "ExploreMode"),
    "practice": ("modes.practice", "PracticeMode"),
    "exam": ("modes.exam", "ExamMode"),
}
_instances: dict[str, Mode] = {}


class UnknownMode(LookupError):
    pass


def get_mode(name: str) -> Mode:
    """The mode called `name` (teach | explore | practice | exam); UnknownMode otherwise."""
    if name not in _MODES:
        raise UnknownMode(f"unknown mode {name!r}; known modes: {', '.join(sorted(_MODES))}")
    if name not in _instances:
        module, cls = _MODES[name]
        _instances[name] = getattr(import_module(module), cls)()
    return _instances[name]


def mode_names() -> list[str]:
    return list(_MODES)
