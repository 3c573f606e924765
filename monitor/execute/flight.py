"""One piece of work per key at a time, however many ask for it (a page two feeds carry)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


async def once(in_flight: dict[K, asyncio.Future[T]], key: K, produce: Callable[[], Awaitable[T]]) -> T:
    """``produce()``'s result; callers asking for ``key`` while it runs share it (and its
    exception) instead of doing the work again. ``in_flight`` holds the work under way."""
    if key in in_flight:
        return await asyncio.shield(in_flight[key])
    future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
    in_flight[key] = future
    try:
        result = await produce()
        future.set_result(result)
        return result
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # mark retrieved: waiters re-raise it, nobody else must
        raise
    finally:
        del in_flight[key]
