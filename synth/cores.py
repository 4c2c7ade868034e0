"""Training threads that make room for the machine's other work.

torch's OpenMP team is only as fast as its slowest thread: every parallel region waits for all of them at its
end. Beside another busy process, one of the team shares a core with it and each region waits until the scheduler
gives that core back, so a two-thread team on two cores beside one busy loop ran many times slower than alone
(BENCHMARKS.md, "Sharing the cores"), while a one-thread team kept its speed. `SharedCores` watches how much of
the machine other processes use (Linux's /proc/stat less this process's own CPU time) and, between training steps,
gives torch the cores they leave: all of them when the machine is otherwise idle, fewer when it is not.

A different thread count changes the order of some floating-point sums, so a model trained under "auto" threads
depends, in its last digits, on what else ran meanwhile. A fixed count keeps training bit for bit reproducible.
"""

from __future__ import annotations

import os
import time

import torch

CHECK_SECONDS = 0.5  # how often the load is read: a few reads per epoch on small tables, cheap on large ones
MARGIN = 0.3  # a thread steps aside for each whole core others use, counting 0.7 of one as whole


def _busy_seconds() -> float | None:
    """CPU seconds every core of the machine has spent busy since boot, or None where /proc/stat is missing."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class SharedCores:
    """Sets torch's thread count, between training steps, to the cores other processes leave free (at least one,
    at most `max_threads`). Call `update()` from the training thread: OpenMP's team size belongs to the thread
    that sets it."""

    def __init__(self, max_threads: int | None = None) -> None:
        self.max_threads = max(1, max_threads or os.cpu_count() or 1)
        self.threads = self.max_threads
        torch.set_num_threads(self.threads)
        self._last = self._read()
        self.others = 0.0  # cores other processes used over the last interval

    @staticmethod
    def _read() -> tuple[float, float | None, float]:
        return time.monotonic(), _busy_seconds(), time.process_time()

    def update(self) -> int:
        """Re-read the load at most every CHECK_SECONDS and set the thread count; returns it."""
        now = self._read()
        wall = now[0] - self._last[0]
        if wall < CHECK_SECONDS or now[1] is None or self._last[1] is None:
            return self.threads
        others = ((now[1] - self._last[1]) - (now[2] - self._last[2])) / wall
        self._last, self.others = now, max(0.0, others)
        threads = min(self.max_threads, max(1, self.max_threads - int(self.others + MARGIN)))
        if threads != self.threads:
            self.threads = threads
            torch.set_num_threads(threads)
        return self.threads
