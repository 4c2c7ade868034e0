"""Keeping freed memory in the process while sampling, for the next batch to reuse.

Sampling allocates and frees tens of megabytes a batch: the noise, the network's output, the decoded
columns. glibc's malloc gives blocks that large back to the kernel when they are freed (each its own
mapping above the mmap threshold, and the heap's top trimmed above the trim threshold), so the next batch
takes a page fault, and a zeroed page, for every 4 KiB it touches again. On Adult that cost sampling a
tenth to a sixth of its rate. Raising both thresholds once keeps those blocks for reuse; the process then
holds on to at most what one batch needed (plus TRIM_THRESHOLD at the top of each heap).
"""

from __future__ import annotations

import ctypes
import functools
import os

MMAP_THRESHOLD = 32 << 20  # the largest glibc accepts: smaller blocks come from the heap, and are reused
TRIM_THRESHOLD = 128 << 20  # free memory a heap keeps at its top before giving it back
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's thresholds, once per process. False, changing nothing, where the C library is not
    glibc or where the user has set either threshold (MALLOC_*_THRESHOLD_ or GLIBC_TUNABLES)."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if any(os.environ.get(name) for name in _SETTINGS) or "threshold" in tunables:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
