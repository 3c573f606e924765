"""The execution port: how the service runs store calls, CPU-bound stages and network calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from ..records import PAGE_FIELDS, Extracted, FeedDone, FeedJob, PageField, ParsedFeed, StoryDone, StoryJob
from ..stages.classify import Topic

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

    def warm(self) -> None:
        """Start the extraction workers in the background if they are not running; never
        raises (a failure is the first page's to meet)."""
        ...

    async def extract(
        self, content: bytes, url: str, *, metadata: frozenset[PageField] = PAGE_FIELDS
    ) -> Extracted:
        """Extract an article page within the ``extract.timeout`` budget (and those of its title,
        author and date in ``metadata``); never raises for a bad page (the outcome is a status)."""
        ...

    def close(self) -> None:
        """Wait for the write in progress, then release threads and processes."""
        ...


class Work(Protocol):
    """A poll's network and CPU work on one feed or one story, wherever it runs: in this
    process (``local.LocalWork``) or on Celery workers (``remote.CeleryWork``). The hub keeps
    the database, the schedule and the outbox; only records cross this line."""

    per_feed: int  # stories of one feed in flight at once (a feed of hanging links starves none)
    # Held by a feed while it processes its new stories. A feed's finished stories wait in memory
    # for its commit, so this bounds them whatever the size of a poll; sized so that feeds of one
    # new story each still fill every story slot. The Work's, not the poller's: a reloaded
    # configuration's poller shares it with the polls still running.
    processing: asyncio.Semaphore

    async def feed(self, job: FeedJob) -> FeedDone:
        """Conditional GET of a feed, and its entries when it changed; never raises for a bad
        feed (the outcome is data)."""
        ...

    async def story(self, job: StoryJob, topics: tuple[Topic, ...]) -> StoryDone:
        """Fetch and extract the entry's page, and classify the story; never raises for a bad
        page."""
        ...

    def expect_pages(self) -> None:
        """A feed has new stories with links: get their extraction ready while their pages are
        fetched (starting extraction workers takes most of a second)."""
        ...

    async def aclose(self) -> None:
        """Release connections; work still in flight is abandoned."""
        ...
