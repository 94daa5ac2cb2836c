"""Prometheus metrics of POST /invocations, served as text on GET /metrics (when `metrics` is on).

    model_invocations_total{status="200"}       counter: answered invocations by HTTP status
    model_invocation_duration_seconds_bucket    histogram: receipt of the request to the last
                                                byte of the answer handed to the server

With several worker processes each worker counts its own requests and any worker may answer
a scrape, so the counts live in prometheus_client's multiprocess files: `cli` makes a fresh
directory for them under the temporary directory (TMPDIR, else /tmp; on Kubernetes an
`emptyDir`) and names it in PROMETHEUS_MULTIPROC_DIR before the workers are spawned;
prometheus_client reads that variable when it is first imported, in each worker. Served in the
main process (one worker), the metrics stay in memory and nothing is written.

Cost on the request path: one counter increment and one histogram observation, each an
uncontended lock in this process (a worker serves its requests on one thread) and, with
workers, a write into a memory-mapped file. No lock is shared between workers.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; the model answers one row in well under a millisecond, a 6 MB batch in about a second.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class InvocationMetrics:
    """The request counter and latency histogram, and their text exposition."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram
        from prometheus_client.multiprocess import MultiProcessCollector

        self.registry = CollectorRegistry()
        shared = bool(os.environ.get(MULTIPROCESS_ENV))
        if shared:
            # Every worker's files, summed; metrics made here then register nowhere (the files are the registry).
            MultiProcessCollector(self.registry)
        own = None if shared else self.registry
        self._requests = Counter(
            "model_invocations", "POST /invocations answered, by HTTP status.", ["status"], registry=own
        )
        self._latency = Histogram(
            "model_invocation_duration_seconds",
            "Time from receiving POST /invocations to handing over the last byte of the answer.",
            buckets=LATENCY_BUCKETS,
            registry=own,
        )
        self._by_status: dict[int, Any] = {}  # status -> its labelled counter, made once

    def observe(self, status: int, seconds: float) -> None:
        counter = self._by_status.get(status)
        if counter is None:
            counter = self._by_status[status] = self._requests.labels(status=str(status))
        counter.inc()
        self._latency.observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """(body, content type) of the Prometheus text format. The names are plain legacy names, so the
        body is the classic 0.0.4 format every Prometheus version reads."""
        from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4


def make_multiprocess_directory() -> Path:
    """A fresh directory for the workers' metric files, named in PROMETHEUS_MULTIPROC_DIR for
    the workers to inherit. Raises OSError when the temporary directory is not writable."""
    directory = Path(tempfile.mkdtemp(prefix="serve-metrics-"))
    os.environ[MULTIPROCESS_ENV] = str(directory)
    return directory


def remove_multiprocess_directory(directory: Path) -> None:
    os.environ.pop(MULTIPROCESS_ENV, None)
    shutil.rmtree(directory, ignore_errors=True)
