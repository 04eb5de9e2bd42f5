"""Process-wide settings that make CPU inference and training faster: memory retention.

PyTorch's CPU allocator takes every tensor from the C library's ``malloc`` and hands it back on
``free``. glibc serves large blocks (above a threshold that grows to at most 32 MiB) with a
fresh ``mmap`` and unmaps them when freed, and returns the top of its heap to the system once
more than 128 KiB is free there. A network's activations are exactly such blocks, allocated and
freed again on every forward pass: each pass then page-faults its whole working set back in,
and the kernel zeroes every page first: a large part of an eager forward pass on CPU (figures
with and without it: benchmarks/README.md, "The allocator matters more than the graph").

:func:`retain_freed_memory` tells glibc to keep freed memory in the process (no ``mmap`` for
blocks under 1 GiB, no trimming), so the second pass reuses the first one's pages. The process
keeps its peak resident size instead of shrinking between passes: the right trade for an
inference server or a training run, the wrong one for a process that must give memory back.
It is the effect other allocators (jemalloc, tcmalloc through ``LD_PRELOAD``) are recommended
for, with no extra library. One caveat with glibc older than 2.38: PyTorch asks for 64-byte
aligned blocks, and such a request cannot reuse a freed block of its own size when a small live
allocation sits right after it, so a loop that allocates one large tensor at a time while keeping
small objects alive grows the heap on every pass. A network's forward pass reuses its blocks
(tests/test_allocator.py measures one in steady state). It changes the whole process (every
library in it, every model), so it is never switched on implicitly: ``deploy(...,
retain_memory=True)``, ``classicnets bench --retain-memory`` and the training config's
``retain_memory`` ask for it explicitly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import warnings

__all__ = ["memory_retained", "release_freed_memory", "retain_freed_memory"]

# mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: glibc's defaults (the mmap threshold then grows on its own, up to 32 MiB)
_DEFAULT_THRESHOLD = 128 * 1024
#: blocks up to this size come from the heap while memory is retained
_RETAIN_MMAP_THRESHOLD = 1 << 30
_RETAIN_TRIM_THRESHOLD = (1 << 31) - 1  # the largest value of mallopt's int argument

_state = {"retained": False}


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def memory_retained() -> bool:
    """Whether :func:`retain_freed_memory` is in effect in this process."""
    return _state["retained"]


def retain_freed_memory(enabled: bool = True) -> bool:
    """Keep (``True``) or stop keeping (``False``) freed memory in the process; see the module
    docstring. Returns whether the setting took effect: ``False`` (with a warning when enabling)
    where the C library is not glibc, since other allocators are tuned in their own ways.

    Disabling restores glibc's fixed default thresholds (its automatic growth of the mmap
    threshold stays off once set) and hands the retained memory back.
    """
    libc = _glibc()
    if libc is None:
        if enabled:
            warnings.warn(
                "retain_freed_memory: the C library is not glibc; nothing was changed "
                "(with another allocator, use its own settings)",
                stacklevel=2,
            )
        return False
    if enabled:
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _RETAIN_MMAP_THRESHOLD) == 1
        if not ok:  # older glibc caps the threshold at 32 MiB (64-bit)
            ok = libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _RETAIN_TRIM_THRESHOLD) == 1 and ok
    else:
        ok = libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_THRESHOLD) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_THRESHOLD) == 1 and ok
        libc.malloc_trim(0)
    _state["retained"] = enabled and ok
    return ok


def release_freed_memory() -> None:
    """Hand the heap memory already freed back to the system now (glibc's ``malloc_trim(0)``),
    so that the resident size shows what is in use; a no-op where the C library is not glibc."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
