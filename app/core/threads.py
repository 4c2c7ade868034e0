"""How torch's threads share the cores in the API and the worker (BENCHMARKS.md, "Sharing the cores").

torch's OpenMP team is only as fast as its slowest thread, and its threads spin while they wait for the next task.
Beside another busy process, a spinning team on every core stalls at each parallel region until the scheduler
hands the core back. The two processes answer it differently:
- the worker trains on every core while the machine is otherwise idle and steps threads aside, between training
  steps, for the cores other processes use (`synth.cores.SharedCores`, the engine's `threads="auto"`), unless
  SYNTHD_WORKER_TORCH_THREADS fixes the count;
- the API samples on at most four threads whose idle OpenMP threads sleep at once (OMP_WAIT_POLICY=PASSIVE): its
  requests come and go, and between them its threads must not hold cores that a worker needs.
OpenMP reads its wait policy once, when torch loads: `synthd serve` sets it first; a value already in the
environment wins.
"""

from __future__ import annotations

import os
from typing import Literal

API_OPENMP_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def apply_api_openmp_env() -> None:
    """The API's OpenMP wait policy, unless the environment sets one (call before torch is imported)."""
    for name, value in API_OPENMP_ENV.items():
        os.environ.setdefault(name, value)


def torch_threads(role: Literal["api", "worker"], configured: int) -> int | Literal["auto"]:
    """The thread setting for `role`: `configured` when above 0; otherwise at most four for the API (its requests
    run on threads of their own), and "auto" for a worker (every core the machine's other work leaves free)."""
    if configured > 0:
        return configured
    return min(4, os.cpu_count() or 1) if role == "api" else "auto"
