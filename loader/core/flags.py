"""Feature flags: ``FlagSettings`` definitions and the one process-wide ``FeatureFlag`` registry.

Value precedence is data (``SOURCES``, highest first): the flag's environment variable, then
the project config's ``feature_flags``, then the flag's ``default_val``. Every value knows the
source it came from, which ``loader inspect`` shows.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from loader.config.env import BOOL_WORDS, parse_bool
from loader.errors import FeatureFlagError
from loader.types import caller_location

__all__ = ["FlagSettings", "FlagValue", "FlagRouter", "FeatureFlag", "is_on", "parse_flag_env", "resolve_flag", "SOURCES"]

FlagSource = Literal["env", "config", "default"]
SOURCES: tuple[FlagSource, ...] = ("env", "config", "default")



def parse_flag_env(name: str, raw: str) -> bool:
    """Parse an environment value strictly; anything but the known words is an error."""
    value = parse_bool(raw)
    if value is None:
        raise FeatureFlagError(f"environment variable {name}={raw!r} is not a boolean; expected one of {BOOL_WORDS}")
    return value


class FlagSettings:
    """Declares a feature flag; put one (or several) in any ``feature_flags/`` folder.

    Example (``sample_project/src/feature_flags/custom.py``)::

        custom_feature = FlagSettings(
            key="custom_feature",
            default_val=False,
            env_key="LOADER_FF_CUSTOM_FEATURE",
            description="Serves /store/custom and its migration",
        )
    """

    __slots__ = ("key", "default_val", "env_key", "description", "path", "line", "defined_in")

    def __init__(self, key: str, default_val: bool = False, env_key: str | None = None, description: str = "") -> None:
        self.key = key
        self.default_val = default_val
        self.env_key = env_key
        self.description = description
        self.path, self.line, self.defined_in = caller_location()

    def same_settings(self, other: FlagSettings) -> bool:
        return (self.key, self.default_val, self.env_key) == (other.key, other.default_val, other.env_key)

    def __repr__(self) -> str:
        return f"FlagSettings(key={self.key!r}, default_val={self.default_val!r}, env_key={self.env_key!r})"


@dataclass(frozen=True, slots=True)
class FlagValue:
    """A resolved flag: its value and where the value came from."""

    key: str
    value: bool | dict[str, bool]
    source: FlagSource
    env_key: str | None = None
    description: str = ""
    defined_at: str | None = None  # "path:line" of the FlagSettings, None for config-only keys

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "source": self.source,
            "env_key": self.env_key,
            "defined_at": self.defined_at,
            "description": self.description,
        }


@dataclass
class FlagRouter:
    """The process-wide flag registry. Use the ``FeatureFlag`` instance, not a new one."""

    _values: dict[str, FlagValue] = field(default_factory=dict)
    _settings: dict[str, FlagSettings] = field(default_factory=dict)
    _reads: list[set[str]] = field(default_factory=list)

    # -- definition -------------------------------------------------------------------
    def register(
        self,
        settings: FlagSettings,
        config_flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        display_path: str | None = None,
    ) -> FlagValue:
        """Register one definition and resolve its value (env > config > default).

        Raises:
            FeatureFlagError: the key is already defined with other settings, or the env
                value is not a boolean. Both name ``path:line``.
        """
        where = f"{display_path or settings.path}:{settings.line}"
        previous = self._settings.get(settings.key)
        if previous is not None and not previous.same_settings(settings):
            prev_where = self._values[settings.key].defined_at
            raise FeatureFlagError(
                f"feature flag {settings.key!r} is defined twice with different settings: "
                f"here ({settings!r}) and at {prev_where} ({previous!r})",
                path=display_path or settings.path,
                line=settings.line,
            )
        try:
            value = resolve_flag(settings, config_flags or {}, os.environ if environ is None else environ, where)
        except FeatureFlagError as exc:
            exc.path, exc.line = display_path or settings.path, settings.line
            raise
        self._settings[settings.key] = settings
        self._values[settings.key] = value
        return value

    def set_config_only(self, key: str, value: bool | dict[str, bool]) -> None:
        """A config ``feature_flags`` key no ``FlagSettings`` declares still has its value."""
        if key not in self._values:
            self._values[key] = FlagValue(key, value, "config")

    def snapshot(self) -> tuple[dict[str, FlagValue], dict[str, FlagSettings]]:
        """The registry's state, to put back with ``restore`` if a reload fails half-way."""
        return dict(self._values), dict(self._settings)

    def restore(self, state: tuple[dict[str, FlagValue], dict[str, FlagSettings]]) -> None:
        self._values, self._settings = dict(state[0]), dict(state[1])

    def unregister(self, key: str) -> None:
        """Forget one flag (its file is being reloaded)."""
        self._values.pop(key, None)
        self._settings.pop(key, None)

    def clear(self) -> None:
        """Forget every flag (a new boot, or a test)."""
        self._values.clear()
        self._settings.clear()

    # -- reading ----------------------------------------------------------------------
    def is_feature_enabled(self, flag: str | list[str] | tuple[str, ...]) -> bool:
        """True when the flag (every flag, for a list) is on; ``"parent.child"`` reads a nested one.

        An unknown key is off.
        """
        if isinstance(flag, (list, tuple)):
            return all(self.is_feature_enabled(one) for one in flag)
        for reads in self._reads:
            reads.add(flag)
        found = self._values.get(flag)
        if found is not None:
            return _truthy(found.value)
        parent, _, child = flag.partition(".")
        if child and (value := self._values.get(parent)) is not None:
            if isinstance(value.value, Mapping):
                return bool(value.value.get(child, False))
            return bool(value.value)
        return False

    def get(self, key: str) -> FlagValue | None:
        return self._values.get(key)

    def list(self) -> list[FlagValue]:
        return [self._values[key] for key in sorted(self._values)]

    @contextmanager
    def recording_reads(self) -> Iterator[set[str]]:
        """Collect the keys read inside the block (used to explain why a file is disabled)."""
        reads: set[str] = set()
        self._reads.append(reads)
        try:
            yield reads
        finally:
            self._reads.remove(reads)

    def __repr__(self) -> str:
        on = [v.key for v in self.list() if _truthy(v.value)]
        return f"<FeatureFlag {len(self._values)} flags, on={on}>"


def resolve_flag(
    settings: FlagSettings, config_flags: Mapping[str, Any], environ: Mapping[str, str], where: str = ""
) -> FlagValue:
    """A flag's value and where it came from: its env variable > config ``feature_flags`` > default.

    The one precedence rule, used by the registry and by ``loader develop``'s parent (which
    reads ``backend_hmr`` without booting the project).

    Raises:
        FeatureFlagError: the env value is not a boolean.
    """

    def make(value: bool | dict[str, bool], source: FlagSource) -> FlagValue:
        return FlagValue(settings.key, value, source, settings.env_key, settings.description, where)

    for source in SOURCES:
        if source == "env" and settings.env_key and settings.env_key in environ:
            try:
                return make(parse_flag_env(settings.env_key, environ[settings.env_key]), "env")
            except FeatureFlagError as exc:
                raise FeatureFlagError(f"flag {settings.key!r}: {exc.message}") from None
        if source == "config" and settings.key in config_flags:
            return make(config_flags[settings.key], "config")
    return make(bool(settings.default_val), "default")


def is_on(value: bool | Mapping[str, bool]) -> bool:
    """Whether a flag value is on (a per-environment mapping: on anywhere)."""
    return _truthy(value)


def _truthy(value: bool | Mapping[str, bool]) -> bool:
    if isinstance(value, Mapping):
        return any(value.values())
    return bool(value)


#: The process-wide registry every file reads: ``FeatureFlag.is_feature_enabled("custom_feature")``.
FeatureFlag = FlagRouter()
