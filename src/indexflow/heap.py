"""The process heap: large blocks go back to the system when freed (glibc), so RSS stays flat.

glibc serves a block of ``M_MMAP_THRESHOLD`` bytes or more with its own ``mmap`` and unmaps it
when freed. By default that threshold is dynamic: each freed mapped block raises it to the
block's size (up to 32 MB), so after the first forward passes every activation tensor of an
encoder (MBs each) is carved out of the heap arenas instead, one arena per thread that ran a
pass. Those arenas fragment and are not handed back: ``indexflow ingest`` of 8 MB of HTML with
all-MiniLM-L6-v2 on torch (2 worker threads) peaked at 2.3 GB, 32 MB at 3.1 GB, growing with
the corpus. With the threshold fixed at 1 MiB activations live in mappings returned on free:
1.1 GB for the same 8 MB (``bench/memory.py``), 0.76 GB instead of 0.86 GB on OpenVINO. The
price is page faults on each fresh mapping: on torch the encoder alone spent about a third more
CPU time (system time, zeroing fresh pages), its wall time within this machine's noise.

:func:`configure_heap` sets it once per process (``Settings.malloc_mmap_threshold_kb``; the
runtime calls it). Elsewhere than glibc (musl, macOS) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform
import threading

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter (malloc.h)
MAX_THRESHOLD_KB = 32 * 1024  # glibc refuses more than HEAP_MAX_SIZE / 2 on 64-bit systems

_lock = threading.Lock()
_applied: int | None = None


def configure_heap(mmap_threshold_kb: int) -> bool:
    """Fix glibc's mmap threshold at ``mmap_threshold_kb`` KiB (0: keep glibc's dynamic one).

    The first non-zero call of a process wins (the heap is the process's, not a runtime's);
    returns whether the threshold is now set as asked.
    """
    global _applied
    if mmap_threshold_kb <= 0:
        return False
    with _lock:
        if _applied is not None:
            return _applied == mmap_threshold_kb
        _applied = -1
        if platform.libc_ver()[0] != "glibc":
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            ok = bool(libc.mallopt(M_MMAP_THRESHOLD, min(mmap_threshold_kb, MAX_THRESHOLD_KB) * 1024))
        except (OSError, AttributeError) as exc:
            log.debug("cannot set the mmap threshold: %s", exc)
            return False
        if ok:
            _applied = mmap_threshold_kb
        return ok


def applied_threshold_kb() -> int:
    """The threshold ``configure_heap`` set in this process, in KiB (0: none, glibc's own)."""
    return _applied if _applied is not None and _applied > 0 else 0


__all__ = ["applied_threshold_kb", "configure_heap"]
