"""Prometheus metrics of the sender (served by /metrics from the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

deliveries_sent = Counter(
    "tracker_deliveries_sent_total", "Postbacks an affiliate's server accepted with a 2xx"
)
deliveries_failed = Counter(
    "tracker_deliveries_failed_total",
    "Postbacks given up after the last try of the retry schedule",
)
deliveries_retried = Counter(
    "tracker_deliveries_retried_total", "Failed tries that were scheduled for another one"
)
delivery_latency = Histogram(
    "tracker_delivery_latency_seconds",
    "Time of one delivery try, from resolution to the end of the response snippet",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
