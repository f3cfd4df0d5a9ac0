"""Process memory settings for array-heavy work (backtests, optimisation).

A backtest allocates and frees arrays of several megabytes per series (candles, indicators, the order plan, the
equity and position curves). By default glibc serves blocks above its mmap threshold with fresh mappings and
returns freed heap memory to the operating system, so the next run's arrays are page-faulted and zeroed again:
on a million-bar series that is a few milliseconds, as much as the simulation itself. :func:`keep_freed_memory`
raises glibc's mmap threshold to its maximum (32 MiB on 64-bit systems) and its trim threshold, so freed blocks
stay in the process and are reused. The cost is memory the process keeps after a peak (at most the trim threshold
beyond what it uses). It is process-wide, so only the command-line entry points that run backtests call it.

Reference: ``mallopt(3)``, the ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` parameters.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_applied = False


def keep_freed_memory() -> bool:
    """Keep freed array memory in the process for reuse (see the module docstring).

    Returns True when the settings were applied (Linux with glibc), False elsewhere (other C libraries manage
    memory their own way; nothing is changed). Calling it again does nothing more.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1 and ok
    _applied = ok
    return ok
