"""Keep freed memory for reuse instead of handing it back to the operating system (glibc).

Training and explaining allocate the same large activation buffers (tens of MB at batch 256)
at every step. glibc serves blocks above its mmap threshold (at most 32 MiB by its dynamic
rule) with fresh ``mmap`` calls and unmaps them on free, so every step faults its buffers in
again page by page: measured on a 2-core Intel CPU, a quarter of training time went to the
kernel (379 million minor page faults in a 31-minute run). Raising the mmap and trim thresholds
makes freed buffers stay in the heap for the next step: bf16 training went from 179 to 283
images/s on one core (``python benchmarks/bench_train.py`` prints both).

Set ``FERVIZ_MALLOC=system`` to keep the C library's defaults. Other C libraries (macOS,
musl) are left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Allocations below this come from the heap and are reused; freed memory is trimmed above it.
THRESHOLD = 1 << 30

_applied: bool | None = None


def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they are set."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("FERVIZ_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, THRESHOLD))
    return _applied
