"""The exception tree. Everything the package raises on purpose derives from MonitorError.

    MonitorError
    ├── ConfigError          bad configuration (carries every problem, each with its key)
    │   ├── TopicError       bad topic definition
    │   └── ModelError       a topic's model file cannot be used
    ├── FetchError           a request failed; carries the URL
    │   ├── BlockedAddressError   refused: private/loopback/reserved target or bad scheme
    │   ├── ResponseTooLargeError the body exceeded its byte cap
    │   ├── DeadlineError         the whole-request deadline passed
    │   ├── RedirectLimitError    more redirects than fetch.max_redirects
    │   └── InvalidURLError       a link that cannot be requested
    ├── StoreError           the database cannot be opened or is corrupt
    │   └── InstanceLockedError   another monitor process is using the database
    └── DeliveryError        a notification channel is unusable

Per-item failures (a 404, an empty page, a rejected message) are not raised past their stage:
they become a status on the record, so one bad feed never stops the others.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Root of every error the package raises deliberately."""


class ConfigError(MonitorError):
    """The configuration is invalid; ``problems`` lists each as ``key: what is wrong``."""

    def __init__(self, problems: list[str] | str, *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.problems))


class TopicError(ConfigError):
    """A topic definition is invalid (unknown key, bad pattern, undefined term)."""


class ModelError(ConfigError):
    """A topic's model file is unreadable, damaged, or made for other feature settings."""


class FetchError(MonitorError):
    """A request failed; the message says why and ``url`` says which."""

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class BlockedAddressError(FetchError):
    """The target resolves to an address the fetcher must not reach, or has a bad scheme."""


class ResponseTooLargeError(FetchError):
    """The (decompressed) body exceeded the configured cap."""


class DeadlineError(FetchError):
    """The whole-request deadline passed (slow drip, hanging server)."""


class RedirectLimitError(FetchError):
    """More redirects than ``fetch.max_redirects``."""


class InvalidURLError(FetchError):
    """A URL that cannot be requested (unparseable host, bad port, bad encoding)."""


class StoreError(MonitorError):
    """The database cannot be used (unreadable path, not a database, corrupt)."""


class InstanceLockedError(StoreError):
    """Another monitor process holds the database's instance lock; ``holder`` says which."""

    def __init__(self, message: str, *, holder: str) -> None:
        self.holder = holder
        super().__init__(message)


class ServiceError(MonitorError):
    """A part of the daemon could not start (the metrics port is taken, say)."""


class DeliveryError(MonitorError):
    """A notification channel is unusable (malformed URL, unsupported service)."""
