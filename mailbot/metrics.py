"""Prometheus metrics (prometheus-client), served by `mailbot run --metrics HOST:PORT` at /metrics.

Counters and histograms are process-wide and labelled by agency and by what happened, never by a person:
no address, name or subject is ever a label. Queue sizes are read from the database at each scrape by
`QueueCollector`, so every process reports the same, current numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

INTAKE = Counter("mailbot_intake_messages", "Messages taken in, by what became of them",
                 ["agency", "disposition"], registry=REGISTRY)
INTAKE_SECONDS = Histogram("mailbot_intake_seconds", "Time to take one message in (parse, checks, filing)",
                           ["agency", "disposition"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                           registry=REGISTRY)
COMMANDS = Counter("mailbot_commands", "Commands by reply, by outcome (applied or refused)",
                   ["agency", "outcome"], registry=REGISTRY)
OUTBOX = Counter("mailbot_outbox_messages", "Mail handed to the server, by result (sent or failed)",
                 ["agency", "result"], registry=REGISTRY)
SEND_SECONDS = Histogram("mailbot_outbox_round_seconds", "Time of one delivery round of the outbox", ["agency"],
                         registry=REGISTRY)
REMINDERS = Counter("mailbot_reminders", "Reminders queued", ["agency"], registry=REGISTRY)
PERIODIC = Counter("mailbot_periodic_mail", "Digests, reports and quota mail queued", ["agency"], registry=REGISTRY)
LAST_PASS = Gauge("mailbot_last_pass_timestamp_seconds", "When the mailbox was last read through (Unix time)",
                  ["agency"], registry=REGISTRY)


class QueueCollector(Collector):
    """Queue sizes at scrape time: `read()` returns {agency: {"outbox_pending": n, ...}}."""

    def __init__(self, read: Callable[[], dict[str, dict[str, int]]]):
        self.read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        sizes = self.read()
        families = {
            "outbox_pending": GaugeMetricFamily("mailbot_outbox_pending", "Mail waiting to be sent", labels=["agency"]),
            "outbox_failing": GaugeMetricFamily("mailbot_outbox_retrying", "Mail waiting after a failed attempt",
                                                labels=["agency"]),
            "held": GaugeMetricFamily("mailbot_held_messages", "Messages held for the secretary", labels=["agency"]),
            "reminders_due": GaugeMetricFamily("mailbot_reminders_due", "Reminders due and not sent yet",
                                               labels=["agency"]),
        }
        for agency, values in sizes.items():
            for key, family in families.items():
                family.add_metric([agency], values.get(key, 0))
        yield from families.values()


def serve(address: str, queues: QueueCollector) -> WSGIServer:
    """Serve /metrics on `address` ("HOST:PORT"; port 0 picks a free one) from a daemon thread."""
    host, _, port = address.rpartition(":")
    REGISTRY.register(queues)
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=REGISTRY)
    return server


def stop(server: WSGIServer, queues: QueueCollector) -> None:
    server.shutdown()
    REGISTRY.unregister(queues)
