"""Reading a project's config: ``.env`` files, then ``loader_config.py``.

``define_config`` validates eagerly and turns a pydantic error into a :class:`ConfigError`
that names the file, the line of the offending key, the field, the value and what was
expected — found by walking the ``define_config(...)`` call in the file's syntax tree.
"""

from __future__ import annotations

import ast
import os
import re
import runpy
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from loader.config.models import LoaderConfig
from loader.core.importer import is_user_failure
from loader.core.tracebacks import line_in
from loader.errors import ConfigError, LoaderError, warn
from loader.types import caller_location

__all__ = ["CONFIG_FILE", "define_config", "load_config", "load_env", "is_project", "locate_config_line"]

CONFIG_FILE = "loader_config.py"


def define_config(**fields: Any) -> LoaderConfig:
    """Build the project config. Call it in ``loader_config.py``: ``config = define_config(...)``.

    Raises:
        ConfigError: an unknown key or a bad value, naming ``path:line``, the field, the value
            and what was expected.
    """
    path, line, _ = caller_location()
    try:
        return LoaderConfig(**fields)
    except ValidationError as exc:
        raise _config_error(exc, path, line) from None


def _config_error(exc: ValidationError, path: str | None, call_line: int | None) -> ConfigError:
    first = exc.errors()[0]
    loc = [part for part in first["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
    field = ".".join(str(p) for p in loc) or "(config)"
    if first["type"] == "extra_forbidden":
        parent = ".".join(str(p) for p in loc[:-1]) or "define_config()"
        message = f"unknown key {loc[-1]!r} in {parent}; expected one of {_allowed_keys(loc[:-1])}"
    else:
        message = f"config field {field}: got {first.get('input')!r}; expected {first['msg'].lower()}"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    line = locate_config_line(path, call_line, loc) if path else call_line
    return ConfigError(message, path=path, line=line)


def _allowed_keys(loc: list[Any]) -> str:
    model: Any = LoaderConfig
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            continue
        annotation = field.annotation
        model = next((a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")), None)
        if model is None and hasattr(annotation, "__args__"):  # dict[str, Model], list[Model]
            model = next((a for a in annotation.__args__ if hasattr(a, "model_fields")), None)
    return ", ".join(getattr(model, "model_fields", {})) or "(none)"


def locate_config_line(path: str, call_line: int | None, loc: list[Any]) -> int | None:
    """The line of the key the error is about, following ``loc`` through the call's literals."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return call_line
    call = next(
        (n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "define_config"),
        None,
    )
    if call is None:
        return call_line
    node: ast.AST | None = None
    best = call.lineno
    for index, part in enumerate(loc):
        if index == 0:
            kw = next((k for k in call.keywords if k.arg == part), None)
            node = kw.value if kw else None
            best = kw.value.lineno if kw else best
        elif isinstance(node, ast.Dict):
            pair = next(((k, v) for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant) and k.value == part), None)
            node = pair[1] if pair else None
            best = pair[0].lineno if pair and pair[0] is not None else best
        elif isinstance(node, ast.Call):  # a nested dict(...) call
            kw = next((k for k in node.keywords if k.arg == part), None)
            node = kw.value if kw else None
            best = kw.value.lineno if kw else best
        elif isinstance(node, ast.List) and isinstance(part, int) and part < len(node.elts):
            node = node.elts[part]
            best = node.lineno
        else:
            break
        if node is None:
            break
    return best


def is_project(root: Path) -> bool:
    return (root / CONFIG_FILE).is_file() or (root / "src").is_dir()


def require_project(root: Path) -> None:
    """Raise a ``ConfigError`` that says what is wrong with a folder given as a project."""
    if not root.exists():
        raise ConfigError(f"no such folder: {root}")
    if not root.is_dir():
        raise ConfigError(f"{root} is a file, not a project folder")
    if not is_project(root):
        raise ConfigError(f"{root} is not a loader project: expected a {CONFIG_FILE} or a src/ folder in it")


def load_env(root: Path, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Load ``.env.<LOADER_ENV>`` then ``.env`` into the environment; variables already set win.

    The more specific file wins over ``.env``. Returns what was added, with the file each came
    from recorded by the caller through the return value.
    """
    env = os.environ if environ is None else environ
    added: dict[str, str] = {}
    stage = env.get("LOADER_ENV", "development")
    for name in (f".env.{stage}", ".env"):
        file = root / name
        if not file.is_file():
            continue
        for key, value in dotenv_values(file).items():
            if key.startswith(_INTERPRETER_PREFIX):
                # PYTHONPATH, PYTHONSTARTUP, PYTHONHOME...: in the environment they would run code
                # in (or change the start of) every interpreter loader starts, the develop
                # child first, and any subprocess of the app. Ignored everywhere, said once.
                warn(f"{key} ignored: a .env file cannot change how the Python interpreter starts; "
                     "set it in the shell if you mean it", path=name, line=_line_of_key(file, key))
                continue
            if value is None or key in env:
                continue
            env[key] = value
            added[key] = name
    return added


_INTERPRETER_PREFIX = "PYTHON"


def _line_of_key(file: Path, key: str) -> int | None:
    """The 1-based line of ``file`` that sets ``key`` (the last one: python-dotenv keeps it)."""
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(key)}\s*=")
    found = None
    for number, text in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if pattern.match(text):
            found = number
    return found


def load_config(root: Path) -> tuple[LoaderConfig, Path | None]:
    """Run ``loader_config.py`` and return its ``config`` (defaults when the file is absent).

    Raises:
        ConfigError: the file fails, defines no ``config``, or defines something else.
    """
    file = root / CONFIG_FILE
    if not file.is_file():
        return LoaderConfig(), None
    try:
        namespace = runpy.run_path(str(file), run_name="loader_config")
    except LoaderError as exc:
        exc.path = CONFIG_FILE if exc.path and Path(exc.path).resolve() == file.resolve() else exc.path
        raise
    except SyntaxError as exc:
        raise ConfigError(f"syntax error: {exc.msg}", path=CONFIG_FILE, line=exc.lineno, source_line=exc.text) from None
    except BaseException as exc:  # sys.exit() in the config is the config's error, too
        if not is_user_failure(exc):
            raise
        line = line_in(exc.__traceback__, str(file))
        raise ConfigError(f"{CONFIG_FILE} raised {type(exc).__name__}: {exc}", path=CONFIG_FILE, line=line) from exc
    config = namespace.get("config")
    if not isinstance(config, LoaderConfig):
        raise ConfigError(
            f"{CONFIG_FILE} must define `config = define_config(...)`; found {type(config).__name__ if config is not None else 'nothing'}",
            path=CONFIG_FILE,
            line=1,
        )
    return config, file
