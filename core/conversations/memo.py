"""What one turn reads more than once, read once: a memo kept in the session's `info` while a turn lasts.

The conversation service opens it around a turn (`turn_memo`); repositories and read services that a turn
asks the same question several times (the bound accounts, the outages going on now at the account) keep their
answer in it, and forget it when they write what it depends on. Outside a turn (`memo_of` is None) nothing is
kept: every call reads the database, as before. (The districts and feeders are kept longer, by the process:
core.outages.places_cache.)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

KEY = "gridtalk.turn_memo"


@contextmanager
def turn_memo(session: AsyncSession) -> Iterator[dict[Hashable, Any]]:
    """A memo for the session while the block lasts (a turn); nested blocks share the outer one."""
    memo: dict[Hashable, Any] | None = session.info.get(KEY)
    if memo is not None:
        yield memo
        return
    memo = session.info[KEY] = {}
    try:
        yield memo
    finally:
        session.info.pop(KEY, None)


def memo_of(session: AsyncSession) -> dict[Hashable, Any] | None:
    """The memo of the turn under way in this session, if any."""
    memo: dict[Hashable, Any] | None = session.info.get(KEY)
    return memo


def forget(session: AsyncSession, kind: str) -> None:
    """Drop every entry of a kind (the first item of its key tuple): what it depends on was written."""
    memo = memo_of(session)
    if memo:
        for key in [k for k in memo if isinstance(k, tuple) and k and k[0] == kind]:
            del memo[key]
