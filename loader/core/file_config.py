"""Per-file config: ``define_file_config(is_disabled=...)``.

The call stores its config in the calling module's own globals (``__loader_file_config__``),
not in a global map keyed by a path guessed from the stack. So the config lives and dies with
that module object: a reload replaces it, and no symlink or wrapper can attach it to the wrong
file. The predicate runs later, once flags and config are loaded (see :func:`evaluate`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

from loader.core.flags import FeatureFlag
from loader.errors import ResourceValidationError

__all__ = ["FileConfig", "define_file_config", "file_config_of", "evaluate", "FILE_CONFIG_ATTR"]

FILE_CONFIG_ATTR = "__loader_file_config__"


@dataclass(frozen=True, slots=True)
class FileConfig:
    """What a file said about itself. ``is_disabled`` is called after flags are loaded."""

    is_disabled: Callable[[], bool] | None = None
    line: int | None = None


def define_file_config(*, is_disabled: Callable[[], bool] | None = None) -> FileConfig:
    """Configure the calling file. Call it at the top level of any discovered file.

    Example (``sample_project/src/api/store/custom/route.py``)::

        define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("custom_feature"))

    Args:
        is_disabled: A predicate; when it returns True the file's resources stay out and
            ``loader inspect`` lists them as disabled, with the reason.
    """
    if is_disabled is not None and not callable(is_disabled):
        raise TypeError(f"define_file_config(is_disabled=...) expects a callable, got {is_disabled!r}")
    frame = sys._getframe(1)
    config = FileConfig(is_disabled=is_disabled, line=frame.f_lineno)
    frame.f_globals[FILE_CONFIG_ATTR] = config
    return config


def file_config_of(module: ModuleType) -> FileConfig | None:
    found = module.__dict__.get(FILE_CONFIG_ATTR)
    return found if isinstance(found, FileConfig) else None


def evaluate(module: ModuleType, display_path: str) -> str | None:
    """Run the module's ``is_disabled`` predicate; the disabled reason, or None when enabled.

    Raises:
        ResourceValidationError: the predicate raised.
    """
    config = file_config_of(module)
    if config is None or config.is_disabled is None:
        return None
    with FeatureFlag.recording_reads() as reads:
        try:
            disabled = config.is_disabled()
        except Exception as exc:
            raise ResourceValidationError(
                f"define_file_config(is_disabled=...) raised {type(exc).__name__}: {exc}",
                path=display_path,
                line=config.line,
            ) from exc
    if not disabled:
        return None
    reason = "is_disabled() returned True"
    if reads:
        states = ", ".join(f"{key}={'on' if FeatureFlag.is_feature_enabled(key) else 'off'}" for key in sorted(reads))
        reason += f" (flags read: {states})"
    return reason
