"""Where the user's code is in a traceback or in a running stack.

One place for the walks that turn a failure into ``path:line``: the last frame inside one
given file (``loader_config.py``, a migration), the deepest frame in project or plugin code
(a failed import), and the innermost such frame of a stack still running (a hung import).
"""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path
from types import FrameType, TracebackType

__all__ = ["frames", "line_in", "is_user_file", "deepest_user_frame", "deepest_user_frame_of_stack"]

_LOADER_DIR = str(Path(__file__).resolve().parent.parent) + os.sep
_STDLIB_DIR = sysconfig.get_paths()["stdlib"] + os.sep


def frames(tb: TracebackType | None) -> list[tuple[str, int, str]]:
    """``(filename, line, code name)`` of each frame of ``tb``, outermost first."""
    out = []
    while tb is not None:
        code = tb.tb_frame.f_code
        out.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return out


def line_in(tb: TracebackType | None, path: str) -> int | None:
    """The line of the deepest frame of ``tb`` inside the file ``path`` (links resolved), or None."""
    wanted = os.path.realpath(path)
    found = [line for filename, line, _ in frames(tb) if os.path.realpath(filename) == wanted]
    return found[-1] if found else None


def is_user_file(filename: str) -> bool:
    """Whether a frame's file can be the user's: not ``<frozen ...>``, not importlib's own."""
    # site-packages and the stdlib are not ruled out here: a plugin may live there (then the
    # last frame wins).
    return not filename.startswith("<") and os.sep + "importlib" + os.sep not in filename


def deepest_user_frame(tb: TracebackType | None, *, never: str | None = None) -> tuple[str, int] | None:
    """``(filename, line)`` of the deepest frame outside loader (else inside it) of ``tb``.

    ``never``: a file whose frames are never the answer (the importer's own: a failure with no
    other frame is about the file being imported, which the caller names).
    """
    user = [(f, n) for f, n, _ in frames(tb) if is_user_file(f) and f != never]
    outside_loader = [(f, n) for f, n in user if not f.startswith(_LOADER_DIR)]
    chosen = outside_loader or user
    return chosen[-1] if chosen else None


def deepest_user_frame_of_stack(frame: FrameType | None) -> tuple[str, int] | None:
    """``(filename, line)`` of the innermost project or plugin frame of a running stack (a hung
    import), or None when it is in no such frame (waiting on a lock, say)."""
    while frame is not None:
        filename = frame.f_code.co_filename
        if is_user_file(filename) and not filename.startswith((_LOADER_DIR, _STDLIB_DIR)):
            return filename, frame.f_lineno
        frame = frame.f_back
    return None
