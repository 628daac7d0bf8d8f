"""Request dependencies: the runtime and a unit of work per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from core.runtime import Runtime


async def get_rt(request: Request) -> Runtime:
    """Async on purpose: a plain `def` dependency costs a threadpool hop per request."""
    return request.app.state.runtime


def get_session(rt: Annotated[Runtime, Depends(get_rt)]) -> Iterator[Session]:
    with rt.session() as session:
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_rt)]
# scope="function": the unit of work commits before the response is sent. FastAPI's default
# ("request") runs a yield dependency's exit after the response: a redirect could reach the
# browser before its write committed (the next page then missed it), and a failed commit
# would have answered success for a write that was rolled back.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
