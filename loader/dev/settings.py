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
from loader.core.flags import parse_flag_env
from loader.dev.watcher import watch_paths
from loader.errors import LoaderError

__all__ = ["DevSettings", "read_settings"]

HMR_FLAG = "backend_hmr"


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
    try:
        if default.env_key in os.environ:
            return DevSettings(parse_flag_env(default.env_key, os.environ[default.env_key]), "env", watch_paths(project, config), None, env_added)
    except LoaderError as exc:
        return DevSettings(bool(default.default_val), "default", watch_paths(project, config), exc, env_added)
    if HMR_FLAG in config.feature_flags:
        return DevSettings(bool(config.feature_flags[HMR_FLAG]), "config", watch_paths(project, config), None, env_added)
    return DevSettings(bool(default.default_val), "default", watch_paths(project, config), None, env_added)
