"""The execution port: how the service runs store calls, CPU-bound stages and network calls."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from ..records import Extracted, ParsedFeed

T = TypeVar("T")


class Executor(Protocol):
    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a store call on the single writer."""
        ...

    def network(self) -> AbstractAsyncContextManager[Any]:
        """Hold one of the ``fetch.concurrency`` network slots."""
        ...

    async def parse(self, content: bytes, *, url: str, content_type: str | None) -> ParsedFeed:
        """Parse feed bytes without blocking the event loop."""
        ...

    async def extract(self, content: bytes, url: str) -> Extracted:
        """Extract an article page within the ``extract.timeout`` budget; never raises for a
        bad page (the outcome is a status)."""
        ...

    def close(self) -> None:
        """Wait for the write in progress, then release threads and processes."""
        ...
