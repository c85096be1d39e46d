"""Prometheus metrics: request latency and counts by route, access decisions by outcome."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

http_requests = Counter("brygga_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
http_latency = Histogram(
    "brygga_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
decisions = Counter("brygga_access_decisions_total", "Audited access decisions", ["action", "decision", "basis"])
