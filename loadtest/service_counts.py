"""What the gateway itself counted during a load test, read from its ``/metrics`` before
it stops: its pings by outcome and the requests it refused at once. The ledger knows
only the status codes the viewers saw; these say which refusal a 503 was (``overloaded``,
Redis ``unavailable`` or ``timeout``, ...)."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# Metric family (its name without _total) -> the label that splits it.
COUNTED = {"watchtime_pings": "outcome", "watchtime_gateway_refused": "reason"}


def read(base_url: str, timeout: float = 30) -> dict[str, dict[str, int]]:
    """{family: {label value: count}} of the families in COUNTED, from every worker."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    counts: dict[str, dict[str, int]] = {family: {} for family in COUNTED}
    for family in text_string_to_metric_families(text):
        if family.name in COUNTED:
            label = COUNTED[family.name]
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[family.name][sample.labels[label]] = int(sample.value)
    return counts
