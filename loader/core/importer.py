"""Importing discovered files, and turning import failures into ``path:line`` errors.

Files import under their dotted name (``src.api.store.hello.route``) through the normal
import system, so a file that another file imported first is the same module object.
A folder or file name that is not a valid module name segment (``v1.0``: a dot would split it)
is spelled with ``.`` and ``%`` percent-encoded (``src.api.v1%2E0.ping.route``); a finder at the
front of ``sys.meta_path`` maps such names back to the folder or file (:func:`module_segment`).
Failures are told apart (Flask's lesson): a syntax error points at the offending line and
shows it; a circular import names every project file in the cycle; anything else points at
the deepest frame inside project or plugin code.
"""

from __future__ import annotations

import gc
import importlib
import importlib.machinery
import importlib.util
import itertools
import linecache
import marshal
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import CodeType, ModuleType, TracebackType
from urllib.parse import unquote

from loader.core.tracebacks import deepest_user_frame, frames, is_user_file
from loader.errors import LoaderError, ResourceImportError
from loader.types import SourceFile

__all__ = [
    "import_source", "import_fresh", "describe_import_failure", "ensure_on_sys_path",
    "ImportAbandoned", "is_user_failure", "module_segment",
]

Display = Callable[[str], str]


class ImportAbandoned(BaseException):
    """Raised inside a worker whose import ran past the time limit, to stop it.

    A ``BaseException`` so that a file's own ``except Exception`` does not swallow it, and never
    recorded as the file's error (the caller reports the time-out itself).
    """


def is_user_failure(exc: BaseException) -> bool:
    """Whether an exception raised by a file's import is that file's failure, to record.

    Everything is, ``SystemExit`` included (``sys.exit(4)`` at the top of a route file must
    not end loader), except Ctrl-C and loader's own request to stop an import.
    """
    return not isinstance(exc, (KeyboardInterrupt, ImportAbandoned))


def _cwd_relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def module_segment(name: str) -> str:
    """The module-name segment of a folder or file (without ``.py``) called ``name``.

    Names with neither ``.`` nor ``%`` are themselves: dashes, spaces and leading digits import
    fine through the normal machinery (only a dot splits a dotted name). Otherwise both are
    percent-encoded, which keeps the mapping one to one (``v1.0`` is ``v1%2E0``, a folder really
    called ``v1%2E0`` is ``v1%252E0``), and :class:`_EncodedNameFinder` imports it.
    """
    if "." not in name and "%" not in name:
        return name
    return name.replace("%", "%25").replace(".", "%2E")


class _EncodedNameFinder:
    """Finds the modules whose last name segment :func:`module_segment` encoded.

    It sits first in ``sys.meta_path`` so that a folder literally named like an encoded segment
    is never found by the path finder in place of the one the name stands for. It answers only
    for names with a ``%`` in their last segment; a folder becomes a package (regular with an
    ``__init__.py``, else a namespace package), a file a module.
    """

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        parent, _, tail = fullname.rpartition(".")
        if "%" not in tail:
            return None
        name = unquote(tail)
        for entry in path if path is not None else sys.path:
            folder = os.path.join(entry or ".", name)
            if os.path.isdir(folder):
                init = os.path.join(folder, "__init__.py")
                if os.path.isfile(init):
                    return importlib.util.spec_from_file_location(fullname, init, submodule_search_locations=[folder])
                spec = ModuleSpec(fullname, None, is_package=True)
                spec.submodule_search_locations = [folder]
                return spec
            if os.path.isfile(folder + ".py"):
                return importlib.util.spec_from_file_location(fullname, folder + ".py")
        return None

    def __repr__(self) -> str:
        return "<loader encoded module name finder>"


_FINDER = _EncodedNameFinder()


def _ensure_finder() -> None:
    if not sys.meta_path or sys.meta_path[0] is not _FINDER:
        if _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)
        sys.meta_path.insert(0, _FINDER)


def ensure_on_sys_path(folder: Path) -> None:
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def import_source(source: SourceFile, display: Display = _cwd_relative) -> ModuleType:
    """Import one discovered file.

    Raises:
        ResourceImportError: the file (or something it imports) failed; ``path:line`` names
            the place, which may be another project file.
    """
    if "%" in source.module_name:
        _ensure_finder()
    try:
        return importlib.import_module(source.module_name)
    except LoaderError as exc:  # raised by a constructor (create_step…) at the user's line
        if exc.path is not None and os.path.isabs(exc.path):
            exc.path = display(exc.path)
        raise
    except BaseException as exc:
        if not is_user_failure(exc):
            raise
        raise _import_error(exc, source.display, display) from exc


def _import_error(exc: BaseException, shown: str, display: Display) -> ResourceImportError:
    """The error for a failed import of the file shown as ``shown``, at the user's line."""
    path, line, source_line = describe_import_failure(exc, display)
    if path is None:
        path, line = shown, 1
    if _is_circular(exc):
        message = f"circular import: {_cycle(exc.__traceback__, display)} ({exc})"
    elif isinstance(exc, SyntaxError):
        message = f"syntax error: {exc.msg}"
    else:
        message = f"{type(exc).__name__}: {exc}"
    if path != shown:
        message += f" (while importing {shown})"
    return ResourceImportError(message, path=path, line=line, source_line=source_line)


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles from the source file every time, never from ``__pycache__``.

    A ``.pyc`` is trusted when the source's mtime (in seconds) and size match; two saves within
    one second that keep the size would otherwise load the stale bytecode. Only a file that
    changed can be stale, so only changed files come here; their dependents load from bytecode.
    """

    def get_code(self, fullname: str) -> CodeType:
        source = self.get_data(self.path)
        if len(source) >= LARGE_SOURCE_BYTES:
            return _compile_elsewhere(self.path)
        return self.source_to_code(source, self.path)


#: Compiling holds the GIL from start to end (about 0.4 s per MB of statements), so a large file
#: is compiled in a separate interpreter: the server's threads go on meanwhile.
LARGE_SOURCE_BYTES = 512 * 1024

#: Constants per piece when a large file's code comes back (see :func:`_compile_elsewhere`).
CONSTANTS_PER_PIECE = 8192

_COMPILE_SCRIPT = """
import marshal, sys
path, per_piece = sys.argv[1], int(sys.argv[2])
try:
    code = compile(open(path, "rb").read(), path, "exec", dont_inherit=True)
except SyntaxError as exc:
    sys.stdout.buffer.write(b"E" + marshal.dumps((exc.msg, exc.lineno, exc.offset, exc.text)))
    raise SystemExit
def pieces(items):
    return [marshal.dumps(items[i:i + per_piece]) for i in range(0, len(items), per_piece)]
consts = code.co_consts
big = {i: pieces(c) for i, c in enumerate(consts) if type(c) is tuple and len(c) > per_piece}
rest = tuple(None if i in big else c for i, c in enumerate(consts))
sys.stdout.buffer.write(b"C" + marshal.dumps((code.replace(co_consts=()), pieces(rest), big)))
"""


def _compile_elsewhere(path: str) -> CodeType:
    """The code of a large file, compiled by another interpreter, rebuilt here a piece at a time.

    A data table in a file is one constant of hundreds of thousands of tuples: unmarshalling
    it in one call, and the first collection of those tuples, would each hold the GIL for tens
    of milliseconds while requests wait. The constants come back in pieces instead; each piece
    is unmarshalled, collected once (tuples of plain values leave the collector's sight there)
    and then the serving thread gets its turn.
    """
    # -I: no PYTHON* variables, no user site; the child is the same interpreter, so the marshalled
    # code object is valid here.
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _COMPILE_SCRIPT, path, str(CONSTANTS_PER_PIECE)],
        capture_output=True, check=False,
    )
    out = done.stdout
    if done.returncode != 0 or not out:
        raise ImportError(f"compiling {path} failed: {done.stderr.decode(errors='replace').strip()[-500:]}")
    if out[:1] == b"E":
        msg, lineno, offset, text = marshal.loads(out[1:])
        raise SyntaxError(msg, (path, lineno, offset, text))
    code, rest, big = marshal.loads(memoryview(out)[1:])  # the code without its constants, and bytes
    consts = list(_joined(rest))
    for index, pieces in big.items():
        consts[index] = _joined(pieces)
    return code.replace(co_consts=tuple(consts))  # type: ignore[no-any-return]


def _joined(pieces: list[bytes]) -> tuple[object, ...]:
    parts = []
    for piece in pieces:
        parts.append(marshal.loads(piece))
        gc.collect(0)  # only this piece is young (the reload pauses automatic collection)
        time.sleep(0)  # let the serving thread run between pieces
    return tuple(itertools.chain.from_iterable(parts))


def import_fresh(name: str, path: Path, display: Display = _cwd_relative, *, changed: bool = True) -> ModuleType:
    """Import ``path`` as module ``name`` again, replacing ``sys.modules[name]``.

    A ``changed`` file compiles from its current source; an unchanged one (a dependent of a
    changed file) loads from its bytecode when it is up to date, as a fresh boot would. The
    caller keeps the previous module object to put back if anything fails.

    Raises:
        ResourceImportError: as :func:`import_source`; ``sys.modules[name]`` is then left unset.
    """
    if "%" in name:
        _ensure_finder()  # its parent packages may not be imported yet (a file added in develop)
    is_package = path.name == "__init__.py"
    loader_class = _FreshSourceLoader if changed else importlib.machinery.SourceFileLoader
    loader = loader_class(name, str(path))
    spec = importlib.util.spec_from_file_location(
        name, path, loader=loader, submodule_search_locations=[str(path.parent)] if is_package else None
    )
    if spec is None:  # pragma: no cover - spec_from_file_location with a loader always gives one
        raise ResourceImportError(f"cannot import {name} from {display(str(path))}", path=display(str(path)))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        loader.exec_module(module)
    except LoaderError as exc:
        sys.modules.pop(name, None)
        if exc.path is not None and os.path.isabs(exc.path):
            exc.path = display(exc.path)
        raise
    except BaseException as exc:
        sys.modules.pop(name, None)
        if not is_user_failure(exc):
            raise
        raise _import_error(exc, display(str(path)), display) from exc
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:  # what the import system does: `import a.b` makes b an attribute of a
        setattr(sys.modules[parent], child, module)
    return module


def describe_import_failure(
    exc: BaseException, display: Display = _cwd_relative
) -> tuple[str | None, int | None, str | None]:
    """``(path, line, source line)`` of the user code an import failure is about."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return display(exc.filename), exc.lineno, exc.text
    frame = deepest_user_frame(exc.__traceback__, never=__file__)
    if frame is None:
        return None, None, None
    filename, line = frame
    linecache.checkcache(filename)  # the file may have been edited since it was last read
    return display(filename), line, linecache.getline(filename, line) or None


def _is_circular(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, (ImportError, AttributeError)) and (
        "partially initialized module" in text or "circular import" in text
    )


def _cycle(tb: TracebackType | None, display: Display) -> str:
    steps = [f"{display(f)}:{n}" for f, n, name in frames(tb) if name == "<module>" and is_user_file(f)]
    return " -> ".join(steps) + " -> back to a module still being initialized" if steps else "between project files"
