"""What the gateway itself counted during a load test, read from its ``/metrics`` before
it stops: its pings by outcome and the requests it refused at once. The ledger knows
only the status codes the viewers saw; these say which refusal a 503 was (``overloaded``,
Redis ``unavailable`` or ``timeout``, ...)."""

from __future__ import annotations

from typing import NamedTuple

from prometheus_client import Counter
from prometheus_client.metrics_core import Metric

from gateway.metrics import PINGS, REFUSED
from loadtest.meters import metric_families


class Counted(NamedTuple):
    pings: dict[str, int]  # by outcome, every worker's added up
    refused: dict[str, int]  # requests refused at once, by reason


def read(base_url: str, timeout: float = 30) -> Counted:
    found = metric_families(f"{base_url}/metrics", timeout)
    return Counted(_by_label(found, PINGS), _by_label(found, REFUSED))


def _by_label(found: dict[str, Metric], counter: Counter) -> dict[str, int]:
    """A counter of one label, as the page showed it: its count by the label's value."""
    [family] = counter.describe()
    samples = found[family.name].samples
    return {
        value: int(sample.value)
        for sample in samples
        if sample.name.endswith("_total")
        for value in sample.labels.values()
    }
