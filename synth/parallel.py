"""Sampling batches on several threads, results in order, each thread with its own share of the cores.

Sampling a batch is a network forward pass (torch, which spreads each op over all its threads) and
then decoding (numpy, Arrow and pandas, mostly on one core). Overlapping the two in one process used
to cost as much as it saved: the decoding thread took a core from the network's OpenMP team, and every
op of the team then waited at its barrier for the thread that was not running. Here each batch runs
whole on one worker, and each worker's OpenMP team is that worker's share of the cores, so the
workers never compete for the same one.
"""

from __future__ import annotations

import ctypes
import functools
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


def run_in_order(tasks: Iterator[Callable[[], T]], workers: int) -> Iterator[T]:
    """The results of `tasks`, in order, computed on `workers` threads at most `workers` tasks ahead.

    The next task is taken from `tasks` only once the result `workers` places before it has been
    handed over, so a task built from state the consumer updates between results is built from the
    same state whatever the timing (the rows of a seed must not depend on which thread ran first).
    There are never more workers than torch has threads, so the caller's thread budget holds; with one
    worker, each task runs in the caller's thread when its result is asked for."""
    threads = torch.get_num_threads()
    workers = min(workers, threads)
    if workers <= 1:
        for task in tasks:
            yield task()
        return
    threads_each = threads // workers
    pool = ThreadPoolExecutor(workers, thread_name_prefix="synth-sample", initializer=_limit_openmp_threads,
                              initargs=(threads_each,))
    pending: deque[Future] = deque()
    try:
        for task in tasks:
            pending.append(pool.submit(task))
            if len(pending) == workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # Waits for the batches in flight: a thread still inside torch when the interpreter exits aborts it.
        pool.shutdown(wait=True, cancel_futures=True)


def _limit_openmp_threads(n: int) -> None:
    """Give the calling thread an OpenMP team of `n`. torch.set_num_threads would do it for every thread
    started from now on as well (it also sets the default that new threads take), so the OpenMP runtime
    is asked directly: its setting belongs to the calling thread alone. Where no runtime is found, the
    worker keeps the default team (slower, not wrong)."""
    torch.get_num_threads()  # torch sets a new thread's team on first use; ours must come after
    runtime = _openmp_runtime()
    if runtime is not None:
        runtime.omp_set_num_threads(n)


@functools.cache
def _openmp_runtime() -> ctypes.CDLL | None:
    """The OpenMP library torch loaded (GNU, LLVM or Intel), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if line.rstrip().endswith((".so", ".so.1", ".so.5"))}
    except OSError:  # not Linux
        return None
    for path in sorted(paths):
        name = path.rsplit("/", 1)[-1]
        if name.startswith(("libgomp", "libomp", "libiomp5")):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    return None
