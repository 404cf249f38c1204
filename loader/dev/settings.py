"""What the dev server's parent needs to know, read without booting the project.

The parent runs ``.env`` files and ``loader_config.py`` (cheap) to learn the ``backend_hmr``
flag and the plugins to watch; it imports no project file, no plugin, and opens nothing.
Reading again before each restart picks up an edited ``.env`` or config.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from loader.config.loading import load_config, load_env
from loader.core.flags import is_on, resolve_flag
from loader.dev.watcher import watch_paths
from loader.errors import LoaderError

__all__ = ["DevSettings", "read_settings"]



@dataclass
class DevSettings:
    hot_reload: bool
    hot_reload_source: str  # "env", "config" or "default"
    watch: list[Path]
    problem: LoaderError | None = None
    env_added: dict[str, str] = field(default_factory=dict)


def read_settings(project: Path, previous: DevSettings | None = None) -> DevSettings:
    """The flag (env > config > default, like every flag) and the folders to watch."""
    if previous is not None:  # forget what the last read put in the environment
        for key in previous.env_added:
            os.environ.pop(key, None)
    env_added = load_env(project)
    default = importlib.import_module("loader.builtin.feature_flags.backend_hmr").backend_hmr
    try:
        config, _ = load_config(project)
    except LoaderError as exc:
        return DevSettings(bool(default.default_val), "default", [project], exc, env_added)
    watch = watch_paths(project, config)
    try:
        value = resolve_flag(default, config.feature_flags, os.environ)  # env > config > default, as every flag
    except LoaderError as exc:
        return DevSettings(bool(default.default_val), "default", watch, exc, env_added)
    return DevSettings(is_on(value.value), value.source, watch, None, env_added)
