"""Prometheus metrics on a registry of the app's own: jobs by state, rows served, request latency."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from app.models import JobStatus


class _JobsCollector:
    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self.counts = counts

    def collect(self):  # noqa: ANN201
        family = GaugeMetricFamily("synthd_jobs", "Jobs by state", labels=["state"])
        try:
            counts = self.counts()
        except Exception:  # the database is down: /readyz says so; /metrics still answers
            return
        for state in JobStatus:
            family.add_metric([state], counts.get(state, 0))
        yield family


class Metrics:
    def __init__(self, job_counts: Callable[[], dict[str, int]]) -> None:
        self.registry = CollectorRegistry()
        self.rows_served = Counter("synthd_rows_served", "Synthetic rows sent", ["format"], registry=self.registry)
        self.latency = Histogram(
            "synthd_request_seconds", "Request latency (to the first byte of the body)",
            ["method", "route", "status"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.sweeps = Counter("synthd_sweeps", "Sweeps of orphaned blobs run by this process", ["outcome"],
                              registry=self.registry)
        self.swept = Counter("synthd_swept", "Orphans removed by the sweep", ["kind"], registry=self.registry)
        self.registry.register(_JobsCollector(job_counts))

    def record_sweep(self, report) -> None:  # noqa: ANN001 - an app.sweep.SweepReport, or None when it failed
        if report is None:
            self.sweeps.labels(outcome="failed").inc()
            return
        self.sweeps.labels(outcome="skipped" if report.skipped else "done").inc()
        for kind in ("temp_uploads", "dataset_blobs", "model_blobs", "checkpoint_blobs"):
            self.swept.labels(kind=kind).inc(len(getattr(report, kind)))
