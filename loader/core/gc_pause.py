"""Pausing the cyclic garbage collector while many long-lived objects are created."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Boot and reload create thousands of modules, functions and resources that live on:
    letting the GC sweep them again and again while they are made costs ~15% of a 1,000-route
    boot (benchmarks/boot.py) and frees nothing. Collection resumes right after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
