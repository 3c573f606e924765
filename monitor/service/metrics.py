"""Prometheus metrics and ``/healthz`` for the daemon (``metrics_port:``).

Counters are counted where things happen (polls, deliveries); gauges are read from the
database at scrape time through a read-only connection of the server's own, so a scrape never
waits for the writer and the figures agree with ``monitor status``. Labels come from the status
enums and topic names only, never from feed text or feed names (10,000 feeds would be 10,000
series).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, Counter, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector

from ..clock import parse_iso
from ..errors import StoreError
from ..records import DeliveryResult, Health, PollReport, QueueStats

log = logging.getLogger(__name__)

POLLS = Counter("monitor_polls", "Feed polls by result: ok, not_modified, or the error kind.", ["result"])
POLL_SECONDS = Histogram(
    "monitor_poll_duration_seconds",
    "Wall time of one feed poll.",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
START_DELAY = Histogram(
    "monitor_poll_start_delay_seconds",
    "How long after its due time each scheduled poll started: whether the scheduler keeps up.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)
STORIES = Counter("monitor_stories_stored", "New stories stored.")
FLAGGED = Counter("monitor_stories_flagged", "New stories some topic flagged.")
DELIVERIES = Counter("monitor_alert_deliveries", "Alert deliveries by result: sent or failed.", ["result"])


def count_poll(report: PollReport) -> None:
    if report.error and not report.new:
        result = report.error_kind.value if report.error_kind else "error"
    else:
        result = "not_modified" if report.not_modified else "ok"
    POLLS.labels(result=result).inc()
    POLL_SECONDS.observe(report.duration)
    STORIES.inc(report.new)
    FLAGGED.inc(report.flagged)


def count_deliveries(results: Iterable[DeliveryResult]) -> None:
    for result in results:
        DELIVERIES.labels(result="sent" if result.ok else "failed").inc()


HealthRead = Callable[[], Health]
"""Reads the database's health (``store.review.HealthReader``); called from the server's thread."""


class DatabaseCollector(Collector):
    """Gauges from the database, read at each scrape."""

    def __init__(self, read: HealthRead) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        try:
            state = self.read()
        except StoreError as exc:
            log.warning("metrics: cannot read the database: %s", exc)
            return
        yield GaugeMetricFamily(
            "monitor_healthy",
            "1 while a feed was polled successfully within health.stale_after.",
            state.healthy,
        )
        yield GaugeMetricFamily("monitor_feeds", "Feeds in the database.", value=state.feeds)
        yield GaugeMetricFamily(
            "monitor_feeds_failing", "Feeds whose last poll failed.", value=state.feeds_failing
        )
        notices = GaugeMetricFamily(
            "monitor_feeds_notice", "Feeds with a standing notice, by kind.", labels=["kind"]
        )
        for kind in ("failing", "silent"):
            notices.add_metric([kind], state.feeds_noticed.get(kind, 0))
        yield notices
        alerts = GaugeMetricFamily("monitor_alerts", "Alerts in the outbox, by status.", labels=["status"])
        for status, n in state.alerts.items():
            alerts.add_metric([status], n)
        yield alerts
        queued = GaugeMetricFamily("monitor_notices", "Ops notices, by status.", labels=["status"])
        for status, n in state.notices.items():
            queued.add_metric([status], n)
        yield queued
        when = parse_iso(state.last_ok_at)
        if when is not None:
            yield GaugeMetricFamily(
                "monitor_last_successful_poll_timestamp_seconds",
                "When a feed was last polled successfully (Unix time).",
                value=when.timestamp(),
            )


QueueRead = Callable[[], QueueStats]


class QueueCollector(Collector):
    """Gauges from the broker (``executor: celery``), read at each scrape."""

    def __init__(self, read: QueueRead) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        try:
            stats = self.read()
        except Exception as exc:  # redis' errors: the broker is down, which the hub logs too
            log.warning("metrics: cannot read the broker: %s", exc)
            yield GaugeMetricFamily("monitor_broker_up", "1 while the broker answers.", value=0)
            return
        yield GaugeMetricFamily("monitor_broker_up", "1 while the broker answers.", value=1)
        yield GaugeMetricFamily("monitor_queue_depth", "Tasks waiting for a worker.", value=stats.depth)
        yield GaugeMetricFamily(
            "monitor_workers", "Workers that answered a task in the last five minutes.", value=stats.workers
        )
        yield GaugeMetricFamily(
            "monitor_tasks_redispatched",
            "Tasks sent again because a worker or the broker lost them (since Redis started).",
            value=stats.redispatched,
        )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every 15 s are not news
        pass


class MetricsServer:
    """``/metrics`` (Prometheus text format) and ``/healthz`` (200 or 503 with the reason) on a
    thread of their own."""

    def __init__(self, read: HealthRead, host: str, port: int, queue: QueueRead | None = None) -> None:
        self.collectors: list[Collector] = [DatabaseCollector(read)]
        if queue is not None:
            self.collectors.append(QueueCollector(queue))
        metrics = make_wsgi_app(REGISTRY)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                try:
                    state = read()
                    ok, reason = state.healthy, state.reason
                except StoreError as exc:
                    ok, reason = False, f"cannot read the database: {exc}"
                start_response(
                    "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")]
                )
                return [f"{'ok' if ok else 'unhealthy'}: {reason}\n".encode()]
            return metrics(environ, start_response)  # type: ignore[no-any-return, unused-ignore]

        self.server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, name="monitor-metrics", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> MetricsServer:
        for collector in self.collectors:
            REGISTRY.register(collector)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for collector in self.collectors:
            REGISTRY.unregister(collector)
