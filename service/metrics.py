"""Prometheus metrics: request latency and counts by route, access decisions by outcome, audit sealing."""
from __future__ import annotations

import functools
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)

http_requests = Counter("brygga_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
http_latency = Histogram(
    "brygga_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
decisions = Counter("brygga_access_decisions_total", "Audited access decisions", ["action", "decision", "basis"])
audit_sealed = Counter("brygga_audit_sealed_events_total", "Audit events sealed into the hash chain")
audit_seal_lag = Gauge("brygga_audit_seal_lag_seconds", "Age of the newest event when it was sealed")
audit_checkpoints = Counter("brygga_audit_checkpoints_total", "Signed checkpoints of the audit chain")


@functools.lru_cache(maxsize=4096)
def child(metric: M, *labels: str) -> M:
    """metric.labels(*labels), remembered: prometheus_client validates the values and takes a lock on every call.

    Label values here come from fixed sets (methods, route templates, statuses, actions), so the cache stays small.
    """
    return metric.labels(*labels)
