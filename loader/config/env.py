"""Reading loader's environment variables: one parser per type, one error shape.

Every ``LOADER_*`` setting read from the environment goes through here, so each accepts the
same words and a bad value is always one line naming the variable and what it expects.
An empty value counts as unset.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from loader.errors import ConfigError

__all__ = ["env_bool", "env_choice", "env_seconds", "env_str", "parse_bool"]

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
BOOL_WORDS = "true/false, 1/0, yes/no, on/off (any case)"


def parse_bool(raw: str) -> bool | None:
    """``True``/``False`` for the known words, None for anything else."""
    word = raw.strip().lower()
    return True if word in _TRUE else False if word in _FALSE else None


def env_str(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    return raw or None


def env_bool(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """Raises ConfigError: the value is not one of the boolean words."""
    raw = env_str(name, environ)
    if raw is None:
        return default
    value = parse_bool(raw)
    if value is None:
        raise ConfigError(f"{name}={raw!r} is not a boolean; expected one of {BOOL_WORDS}")
    return value


def env_seconds(name: str, default: float, environ: Mapping[str, str] | None = None, *, zero: str = "") -> float:
    """A finite number of seconds >= 0. ``zero`` says what 0 means, for the message.

    Raises ConfigError: anything else.
    """
    raw = env_str(name, environ)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        meaning = f" ({zero})" if zero else ""
        raise ConfigError(f"{name}={raw!r}: expected a number of seconds >= 0{meaning}")
    return value


def env_choice(name: str, choices: tuple[str, ...], environ: Mapping[str, str] | None = None) -> str | None:
    """One of ``choices`` (any case, returned in lower case), or None when unset.

    Raises ConfigError: any other value.
    """
    raw = env_str(name, environ)
    if raw is None:
        return None
    word = raw.lower()
    if word not in choices:
        shown = raw if len(raw) <= 40 else f"{raw[:40]}..."
        raise ConfigError(f"{name}={shown!r} is not valid; expected one of {', '.join(choices)} (any case)")
    return word
