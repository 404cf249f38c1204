"""The shape of ``loader_config.py``: pydantic models, strict about unknown keys.

Example (``sample_project/loader_config.py``)::

    config = define_config(
        project={"http": {"port": 9000}, "worker_mode": "shared"},
        modules={"notification": {"providers": [{"resolve": "./src/providers/console", "id": "console", "is_default": True}]}},
        plugins=["greetings"],
        feature_flags={"custom_feature": False},
    )
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loader.config.cors import CorsConfig

__all__ = ["CorsConfig", "HttpConfig", "LoggingConfig", "ProjectConfig", "ProviderConfig", "ModuleConfig", "PluginConfig", "LoaderConfig"]


class _Strict(BaseModel):
    # strict: a value of the wrong type is an error, never coerced (True is not port 1, "1" is not a flag)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


#: The default of ``project.http.max_body_size``: 1 MiB.
DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class HttpConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9000, ge=1, le=65535)
    #: Largest request body accepted, in bytes; a larger one is a 413, refused while it streams.
    max_body_size: int = Field(default=DEFAULT_MAX_BODY_SIZE, ge=1)
    #: Cross-origin requests from browsers (``loader/config/cors.py``); off when unset.
    cors: CorsConfig | None = None
    # The server's connection limits (``loader/runtime/server.py``, docs/routes.md § Limits).
    #: Seconds an idle keep-alive connection stays open between two requests.
    keep_alive_timeout: float = Field(default=5.0, gt=0, le=3600, allow_inf_nan=False)
    #: Seconds a client has to send a request's head (request line and headers); then it is cut off.
    header_timeout: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    #: Largest request head, in bytes; a larger one is a 400 and the connection is closed.
    max_head_size: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    #: Past this many open connections or requests in flight, a new request gets a 503; None: no limit.
    limit_concurrency: int | None = Field(default=None, ge=2)

    #: Serve the OpenAPI document at ``/openapi.json``. None (the default): on under ``loader
    #: develop`` and for in-process applications, off under ``loader start`` unless set to True.
    openapi: bool | None = None
    #: Serve the docs page at ``/docs`` (Swagger UI, shipped with loader). None: wherever the
    #: document is served. The page shows the document, so True serves the document too, and
    #: it cannot be on while ``openapi`` is False.
    docs: bool | None = None

    @model_validator(mode="after")
    def _docs_need_the_document(self) -> HttpConfig:
        if self.docs and self.openapi is False:
            raise ValueError("docs is true but openapi is false: the docs page shows the OpenAPI document")
        return self


#: The levels ``project.logging.level`` and ``LOADER_LOG_LEVEL`` accept.
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class LoggingConfig(_Strict):
    """``project.logging``: how ``loader start`` and ``loader develop`` set up logging (docs/logging.md)."""

    #: False: loader leaves logging to the project (``project={"logging": False}`` is short for it).
    configure: bool = True
    level: LogLevel = "info"
    format: Literal["console", "json"] = "console"
    #: One line per request; None: on under ``loader develop``, off under ``loader start``.
    access_log: bool | None = None


class ProjectConfig(_Strict):
    database_url: str | None = None
    http: HttpConfig = HttpConfig()
    worker_mode: Literal["shared", "server", "worker"] = "shared"
    logging: LoggingConfig = LoggingConfig()

    @field_validator("logging", mode="before")
    @classmethod
    def _logging_shorthand(cls, value: Any) -> Any:
        # False is short for {"configure": False}: the project sets up logging itself
        return {"configure": value} if isinstance(value, bool) else value


class ProviderConfig(_Strict):
    resolve: str
    id: str = Field(min_length=1)
    options: dict[str, Any] = {}
    is_default: bool = False


class ModuleConfig(_Strict):
    resolve: str | None = None
    options: dict[str, Any] = {}
    providers: list[ProviderConfig] = []
    disable: bool = False


class PluginConfig(_Strict):
    resolve: str = Field(min_length=1)
    options: dict[str, Any] = {}


class LoaderConfig(_Strict):
    """The whole project config; ``define_config`` builds it."""

    project: ProjectConfig = ProjectConfig()
    modules: dict[str, ModuleConfig] = {}
    plugins: list[PluginConfig] = []
    feature_flags: dict[str, bool | dict[str, bool]] = {}

    @field_validator("plugins", mode="before")
    @classmethod
    def _plugin_shorthand(cls, value: Any) -> Any:
        # "greetings" is short for {"resolve": "greetings"}
        if isinstance(value, list):
            return [{"resolve": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("modules", mode="before")
    @classmethod
    def _module_shorthand(cls, value: Any) -> Any:
        # {"blog": True} enables a module with no options; False disables a discovered one
        if isinstance(value, dict):
            return {k: ({"disable": not v} if isinstance(v, bool) else v) for k, v in value.items()}
        return value
