"""Records as JSON for the task queue: what crosses the broker is data, never pickle, so a
message from a compromised broker cannot run code in a worker or in the hub."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import TypeAdapter

from ..records import PAGE_FIELDS, FeedDone, FeedJob, StoryDone, StoryJob

T = TypeVar("T")

_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {
    kind: TypeAdapter(kind) for kind in (FeedJob, FeedDone, StoryJob, StoryDone)
}


def encode(record: object) -> dict[str, Any]:
    """A record as JSON-ready data (datetimes as ISO text, enums as their values)."""
    data: dict[str, Any] = _ADAPTERS[type(record)].dump_python(record, mode="json")
    return data


def decode(kind: type[T], data: Any) -> T:
    """The record back, validated: a malformed message is a ``pydantic.ValidationError``."""
    if kind is StoryJob and isinstance(data, dict) and isinstance(data.get("page_metadata"), bool):
        # An older hub sends whether to read all three: upgrade the workers first, then the hub.
        data = {**data, "page_metadata": list(PAGE_FIELDS) if data["page_metadata"] else []}
    record: T = _ADAPTERS[kind].validate_python(data)
    return record
