"""``project.http.cors``: which other sites' pages may call the API from a browser.

Off unless set. Starlette's ``CORSMiddleware`` does the work (``loader/runtime/http.py``); this
model only makes sure a value means what its author thinks. A browser compares origins as exact
strings and silently refuses what does not match, so a value that can never match (a trailing
slash, a path, no scheme) or that would be unsafe (credentials with every origin allowed) is a
:class:`~loader.errors.ConfigError` naming the field and the value, not a mystery in production::

    config = define_config(project={"http": {"cors": {
        "allow_origins": ["https://shop.example.com"],
        "allow_headers": ["authorization"],
        "allow_credentials": True,
    }}})
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from loader.types import HTTP_METHODS

__all__ = ["CorsConfig"]

# scheme://host[:port], as a browser serializes an origin: no path, no trailing slash, no user
# info. Any scheme, since apps in a webview send their own (capacitor://localhost, tauri://...).
_ORIGIN = re.compile(r"([a-z][a-z0-9+.-]*)://(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(?::([1-9]\d{0,4}))?")
# A browser leaves the scheme's default port out of the origin it sends.
_DEFAULT_PORTS = {("http", "80"), ("https", "443")}
# RFC 9110 token: what a header name is made of.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# An origin no allow_origin_regex meant to allow: matching it means matching any origin.
_STRANGER = "https://loader-cors-probe.invalid"


def _origin(value: str) -> str:
    if value == "*":
        return value
    if value == "null":
        raise PydanticCustomError(
            "cors_origin", "an origin like 'https://example.com'; 'null' is what sandboxed frames and local "
            "files send, so allowing it lets any page that sandboxes itself in",
        )
    origin = value.lower()  # scheme and host are case-insensitive; browsers send them lowercased
    match = _ORIGIN.fullmatch(origin)
    port = match.group(2) if match else None
    if match is None or (port is not None and (int(port) > 65535 or (match.group(1), port) in _DEFAULT_PORTS)):
        raise PydanticCustomError(
            "cors_origin", "an origin like 'https://example.com' or 'http://localhost:3000', as a browser sends "
            "it in its origin header: scheme://host[:port], no path, no trailing slash, no default port",
        )
    return origin


def _method(value: str) -> str:
    method = value.upper()
    if method != "*" and method not in HTTP_METHODS:
        raise PydanticCustomError("cors_method", f"'*' or one of {', '.join(HTTP_METHODS)}")
    return method


def _header(value: str) -> str:
    if value != "*" and not _TOKEN.fullmatch(value):
        raise PydanticCustomError("cors_header", "a header name like 'authorization' or 'x-request-id', or '*'")
    return value


Origin = Annotated[str, AfterValidator(_origin)]
Method = Annotated[str, AfterValidator(_method)]
Header = Annotated[str, AfterValidator(_header)]


class CorsConfig(BaseModel):
    """``project.http.cors``: the arguments of Starlette's ``CORSMiddleware``, checked.

    Attributes:
        allow_origins: Origins whose pages may call the API (``"https://shop.example.com"``),
            or ``["*"]`` for every origin.
        allow_origin_regex: Also allow the origins this pattern matches in full
            (``r"https://.*\\.preview\\.example\\.com"``).
        allow_methods: Methods a cross-origin request may use; ``["*"]`` (the default) is every one.
        allow_headers: Request headers it may send beyond the CORS-safelisted ones
            (``Accept``, ``Accept-Language``, ``Content-Language``, ``Content-Type``); ``["*"]``: any.
        allow_credentials: Whether cookies and ``Authorization`` travel with cross-origin requests.
        expose_headers: Response headers the page's script may read beyond the safelisted ones.
        max_age: Seconds a browser may cache a preflight answer (browsers cap it: 2 h in Chrome).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # as every config model (models._Strict)

    allow_origins: list[Origin] = []
    allow_origin_regex: str | None = None
    allow_methods: list[Method] = ["*"]
    allow_headers: list[Header] = []
    # declared after the origins: its check reads them
    allow_credentials: bool = False
    expose_headers: list[Header] = []
    max_age: int = Field(default=600, ge=0, le=86400)

    @field_validator("allow_origins")
    @classmethod
    def _star_alone(cls, value: list[str]) -> list[str]:
        if "*" in value and len(value) > 1:
            raise PydanticCustomError("cors_origin", "either ['*'] (every origin) or a list of origins, not both")
        return value

    @field_validator("allow_origin_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise PydanticCustomError("cors_regex", f"a regular expression ({exc})") from None
        return value

    @field_validator("allow_credentials")
    @classmethod
    def _not_with_every_origin(cls, value: bool, info: ValidationInfo) -> bool:
        if not value:
            return value
        # With credentials, Starlette answers a '*' config by echoing whatever origin asks, which
        # would let every site on the web make requests with the user's cookies and read them.
        if "*" in info.data.get("allow_origins", ()):
            raise PydanticCustomError(
                "cors_credentials", "false when allow_origins is ['*']: browsers refuse credentials with a "
                "wildcard origin; list the origins that may send them",
            )
        regex = info.data.get("allow_origin_regex")
        if regex and re.fullmatch(regex, _STRANGER):
            raise PydanticCustomError(
                "cors_credentials", "false when allow_origin_regex matches any origin (it matches "
                f"{_STRANGER}); narrow the pattern to your own sites",
            )
        return value

    @field_validator("expose_headers")
    @classmethod
    def _listed_with_credentials(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if "*" in value and info.data.get("allow_credentials"):
            raise PydanticCustomError(
                "cors_expose", "header names, not '*', when allow_credentials is true: browsers read '*' "
                "literally on credentialed requests",
            )
        return value

    @model_validator(mode="after")
    def _some_origin(self) -> CorsConfig:
        if not self.allow_origins and self.allow_origin_regex is None:
            raise PydanticCustomError(
                "cors_origin", "allow_origins (or allow_origin_regex) to name at least one origin; "
                "without one, cors allows nothing",
            )
        return self

    def middleware_options(self) -> dict[str, Any]:
        """The keyword arguments of Starlette's ``CORSMiddleware``."""
        return self.model_dump()
