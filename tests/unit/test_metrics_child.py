"""metrics.child remembers labelled children without changing what is counted."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from service.metrics import child


def test_child_is_the_same_labelled_series_and_counts_into_it():
    registry = CollectorRegistry()
    counter = Counter("probe_total", "probe", ["route", "status"], registry=registry)
    first = child(counter, "/v1/x", "200")
    assert child(counter, "/v1/x", "200") is first is counter.labels("/v1/x", "200")
    first.inc()
    child(counter, "/v1/x", "200").inc()
    child(counter, "/v1/x", "404").inc()
    assert registry.get_sample_value("probe_total", {"route": "/v1/x", "status": "200"}) == 2
    assert registry.get_sample_value("probe_total", {"route": "/v1/x", "status": "404"}) == 1
