"""What a route handler asks for, read from its signature once, when its route file is collected.

The rules (``docs/routes.md``, "Parameters"):

- **the request**: the first parameter when it is named ``request``, or any parameter annotated
  with Starlette's ``Request``; a handler that asks for none is called without it;
- **path parameters**: a parameter named like a ``[name]`` folder of the route; unannotated is a
  ``str``, otherwise any single value pydantic validates from a string (``int``, ``uuid.UUID``,
  ``datetime.date``, an ``Enum``, ``Annotated[int, Field(ge=1)]``…);
- **the query model**: a parameter named ``query`` annotated with a pydantic model, validated
  from the whole query string;
- **query parameters**: any other parameter annotated with such a single-value type, or a
  ``list`` of one (a repeated key: ``?tag=a&tag=b``); a default makes it optional;
- **the body**: a parameter annotated with a pydantic model (at most one; ``Model | None = None``
  accepts an empty body);
- any other parameter that has a default is left to it (loader passes nothing).

Anything else — a parameter that is none of these, two body models, a path parameter of a type
pydantic cannot build from a string — raises :class:`SignatureError`, which the route kind turns
into a load error at the handler's ``path:line``: the file stays out of the route table, and
nothing fails at request time. Everything a request needs (pydantic adapters included) is built
here; a request only runs the validators.
"""

from __future__ import annotations

import copy
import datetime
import decimal
import enum
import inspect
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePath
from typing import Any

from pydantic import BaseModel, ConfigDict, PydanticUserError, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = ["HandlerSignature", "Param", "SignatureError", "analyse", "fresh", "path_params_of", "validate_params"]

_EMPTY = inspect.Parameter.empty
#: Types a single string (a path segment, one query value) becomes; subclasses count (IntEnum, …).
_SCALARS: tuple[type, ...] = (
    str, int, float, bool, decimal.Decimal, uuid.UUID, datetime.date, datetime.datetime, datetime.time,
    datetime.timedelta, enum.Enum, bytes, PurePath,
)
_UNIONS = (typing.Union, types.UnionType)


class SignatureError(Exception):
    """A handler signature loader cannot call; the message says which parameter and why."""


@dataclass(frozen=True, slots=True)
class Param:
    """One path or query parameter.

    Attributes:
        name: The parameter's name (and the path segment's, or the query key).
        annotation: Its resolved annotation (``str`` when it had none).
        adapter: Validates the raw string(s); None when the raw string is the value (``str``).
        default: Its default, or ``inspect.Parameter.empty`` when required.
        many: A ``list`` annotation: every value of a repeated query key.
    """

    name: str
    annotation: Any
    adapter: TypeAdapter[Any] | None
    default: Any = _EMPTY
    many: bool = False

    @property
    def required(self) -> bool:
        return self.default is _EMPTY


@dataclass(frozen=True, slots=True)
class HandlerSignature:
    """How to call one handler.

    Attributes:
        request: The name of the parameter that receives the request, or None.
        request_first: The request is passed positionally (it is the first parameter).
        path: Path parameters, in signature order.
        query: Single-value query parameters.
        query_model: ``(name, model)`` validated from the whole query string.
        body: ``(name, model, default)``: validated from the JSON body; an empty body is
            ``default`` for ``Model | None = default``, else validated as ``{}``.
        returns: The resolved return annotation, or None (the OpenAPI document reads it).
        query_lists: Keys of the query model's ``list`` fields: they take every value of a
            repeated key (``?tag=a&tag=b``).
        query_taken: Keys the single-value query parameters read: the query model does not
            see them (a model that forbids extra keys still works beside ``q: str``).
    """

    request: str | None = "request"
    request_first: bool = True
    path: tuple[Param, ...] = ()
    query: tuple[Param, ...] = ()
    query_model: tuple[str, type[BaseModel]] | None = None
    body: tuple[str, type[BaseModel], Any] | None = None
    returns: Any = None
    query_lists: frozenset[str] = frozenset()
    query_taken: frozenset[str] = frozenset()

    @property
    def only_request(self) -> bool:
        """The handler takes the request and nothing else: called as ``handler(request)``."""
        return self.request is not None and self.request_first and not self.takes_input

    @property
    def takes_input(self) -> bool:
        return bool(self.path or self.query or self.query_model or self.body)


def path_params_of(url_path: str) -> tuple[str, ...]:
    """``("id",)`` for ``/store/posts/{id}``."""
    return tuple(segment[1:-1] for segment in url_path.split("/") if segment.startswith("{"))


def analyse(handler: Callable[..., Any], url_path: str) -> HandlerSignature:
    """Read ``handler``'s signature against the route's path; raise SignatureError if it cannot be called."""
    function = inspect.unwrap(handler)
    if inspect.isasyncgenfunction(function):
        raise SignatureError("it is an async generator (it yields); return a value, or a Starlette StreamingResponse")
    if function is handler and _only_the_request(function):
        return _ONLY_REQUEST
    try:
        parameters = list(inspect.signature(handler).parameters.values())
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"its signature cannot be read: {exc}") from None
    hints = _hints(handler, parameters)
    in_path = set(path_params_of(url_path))
    request: str | None = None
    request_first = False
    path: list[Param] = []
    query: list[Param] = []
    query_model: tuple[str, type[BaseModel]] | None = None
    body: tuple[str, type[BaseModel], Any] | None = None
    for index, param in enumerate(parameters):
        name, annotation = param.name, hints.get(param.name, _EMPTY)
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # *args / **kwargs: loader passes nothing extra
        if request is None and _is_request(name, annotation, index):
            request, request_first = name, index == 0
            continue
        if isinstance(param.default, FieldInfo):  # ``page: int = Field(1, ge=1)``, as pydantic reads it
            annotation, default = _with_field(name, annotation, param.default)
            param = param.replace(default=default)
        if param.kind is param.POSITIONAL_ONLY:
            raise SignatureError(f"parameter {name!r} is positional-only; only the request may be")
        if name in in_path:
            path.append(_path_param(name, annotation, url_path))
            continue
        model, optional = _model_of(annotation)
        if model is not None and name == "query":
            for field_name, field in model.model_fields.items():
                _refuse_number_literals(f"{model.__name__}.{field_name}", field.annotation, "field")
            query_model = (name, model)
        elif model is not None:
            if body is not None:
                raise SignatureError(
                    f"parameters {body[0]!r} and {name!r} are both pydantic models, so both would be the "
                    "request body; a handler takes at most one body model (name a query model 'query')"
                )
            body = (name, model, param.default if optional else _EMPTY)
        elif param.default is not _EMPTY and (annotation is _EMPTY or not _from_query(annotation)):
            continue  # nothing loader can give it, but it has a default: left to the default
        elif annotation is _EMPTY:
            raise SignatureError(
                f"parameter {name!r} is not a path parameter of {url_path}"
                + (f" (its path parameters: {', '.join(sorted(in_path))})" if in_path else "")
                + f"; annotate it to read it from the query string ({name}: str) or with a pydantic model for the body"
            )
        else:
            query.append(_query_param(name, annotation, param.default))
    returns = hints.get("return", _EMPTY)
    lists = frozenset(_list_fields(query_model[1])) if query_model else frozenset()
    return HandlerSignature(
        request, request_first, tuple(path), tuple(query), query_model, body, None if returns is _EMPTY else returns,
        lists, frozenset(p.name for p in query) if query_model else frozenset(),
    )


def _with_field(name: str, annotation: Any, field: FieldInfo) -> tuple[Any, Any]:
    """``(Annotated[int, field], 1)`` for ``page: int = Field(1, ge=1)``: the constraints are
    validated, and the default is the field's (required when it has none)."""
    if field.default_factory is not None:
        raise SignatureError(f"parameter {name!r} has a Field with a default_factory; give it a default instead")
    base = str if annotation is _EMPTY else annotation
    return typing.Annotated[base, field], _EMPTY if field.default is PydanticUndefined else field.default


def _list_fields(model: type[BaseModel]) -> list[str]:
    """The query keys of a model's ``list`` (or set, tuple) fields."""
    keys = []
    for name, field in model.model_fields.items():
        if _list_item(field.annotation) is not _EMPTY:
            alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
            keys.append(alias or name)
    return keys


def _hints(handler: Callable[..., Any], parameters: list[inspect.Parameter]) -> dict[str, Any]:
    """Resolved annotations (``from __future__ import annotations`` included); one that does not
    resolve is an error naming its parameter (a broken return annotation is ignored)."""
    target = inspect.unwrap(handler)
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        pass
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    for index, param in enumerate(parameters):
        annotation = param.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, namespace)  # what get_type_hints does, one name at a time
            except Exception as exc:
                if index == 0 and param.name == "request":
                    continue  # ``request: "Request"`` imported only for type checkers: still the request
                raise SignatureError(
                    f"the annotation of parameter {param.name!r} ({param.annotation}) does not resolve: {type(exc).__name__}: {exc}"
                ) from None
        if annotation is not _EMPTY:
            hints[param.name] = annotation
    return hints


def _is_request(name: str, annotation: Any, index: int) -> bool:
    # Starlette's Request, looked up rather than imported: a file annotated with it has imported
    # it, and a boot (``loader inspect``) need not load Starlette for files that are not.
    requests = sys.modules.get("starlette.requests")
    if requests is not None and isinstance(annotation, type) and issubclass(annotation, requests.Request):
        return True
    return index == 0 and name == "request"


#: ``async def GET(request)``, the most common handler: read from its code object, no signature
#: or annotation to resolve (a boot reads thousands of them).
_ONLY_REQUEST = HandlerSignature()
_PLAIN_ARGS = inspect.CO_VARARGS | inspect.CO_VARKEYWORDS


def _only_the_request(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return (
        code is not None and code.co_argcount == 1 and code.co_kwonlyargcount == 0 and code.co_posonlyargcount == 0
        and not code.co_flags & _PLAIN_ARGS and code.co_varnames[0] == "request"
        and not getattr(function, "__annotations__", None) and not getattr(function, "__defaults__", None)
    )


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """``(Model, optional)`` for ``Model`` and ``Model | None``; ``(None, False)`` otherwise."""
    annotation = _strip_annotated(annotation)
    if _is_model(annotation):
        return annotation, False
    if typing.get_origin(annotation) in _UNIONS:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2 and _is_model(_strip_annotated(args[0])):
            return _strip_annotated(args[0]), True
    return None, False


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _strip_annotated(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _single_value(annotation: Any) -> bool:
    """Whether one string can become this type: scalars, ``Literal``, unions of them, ``None``,
    ``Annotated`` constraints, and pydantic's own types (``EmailStr``…); not models or containers."""
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in _UNIONS:
        return all(a is type(None) or _single_value(a) for a in typing.get_args(annotation))
    if not isinstance(annotation, type) or _is_model(annotation):
        return False
    return issubclass(annotation, _SCALARS) or hasattr(annotation, "__get_pydantic_core_schema__")


def _list_item(annotation: Any) -> Any:
    """The item type of ``list[X]`` (also ``Annotated``/optional), else ``_EMPTY``."""
    annotation = _strip_annotated(annotation)
    if typing.get_origin(annotation) in _UNIONS:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = _strip_annotated(members[0]) if len(members) == 1 else annotation
    if typing.get_origin(annotation) in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        if args and (len(args) == 1 or (len(args) == 2 and args[1] is Ellipsis)):
            return args[0]
    return _EMPTY


def _literal_values(annotation: Any) -> list[Any]:
    """The values of every ``Literal`` in ``annotation`` (inside ``Optional``, ``list``, ``Annotated``…)."""
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return list(typing.get_args(annotation))
    if origin in _UNIONS or origin in (list, tuple, set, frozenset):
        return [value for arg in typing.get_args(annotation) for value in _literal_values(arg)]
    return []


def _from_query(annotation: Any) -> bool:
    item = _list_item(annotation)
    return _single_value(annotation) or (item is not _EMPTY and _single_value(item))


def _path_param(name: str, annotation: Any, url_path: str) -> Param:
    if annotation is _EMPTY or annotation is str:
        return Param(name, str, None)
    if not _single_value(annotation):
        raise SignatureError(
            f"path parameter {name!r} of {url_path} is annotated {_shown(annotation)}, which one path segment "
            "cannot become; use str, int, float, bool, uuid.UUID, a date, an Enum or a Literal"
        )
    return Param(name, annotation, _adapter(name, annotation))


def _query_param(name: str, annotation: Any, default: Any) -> Param:
    if _single_value(annotation):
        return Param(name, annotation, None if annotation is str else _adapter(name, annotation), default)
    item = _list_item(annotation)
    if item is not _EMPTY and _single_value(item):
        return Param(name, annotation, _adapter(name, annotation), default, many=True)
    raise SignatureError(
        f"parameter {name!r} is annotated {_shown(annotation)}: it is not a path parameter, and loader can neither "
        "read it from the query string (a str, int, UUID… or a list of them) nor from the body (a pydantic model)"
    )


def _refuse_number_literals(name: str, annotation: Any, noun: str = "parameter") -> None:
    odd = [value for value in _literal_values(annotation) if not isinstance(value, str)]
    if odd:  # pydantic compares a Literal's values as they are: the string "2" never equals 2
        raise SignatureError(
            f"{noun} {name!r} is annotated {_shown(annotation)}, but a value read from the URL is a string and "
            f"never equals {odd[0]!r}; use a Literal of strings or an Enum (class Mode(IntEnum))"
        )


def _adapter(name: str, annotation: Any) -> TypeAdapter[Any]:
    _refuse_number_literals(name, annotation)
    try:
        if isinstance(annotation, type) and annotation.__module__ in _SHARED_MODULES:
            return _shared_adapter(annotation)
        return _finite(annotation)
    except Exception as exc:
        raise SignatureError(f"pydantic cannot validate parameter {name!r} ({_shown(annotation)}): {exc}") from None


#: Plain standard types get one adapter for the whole process (a thousand routes with ``id: int``
#: share one); a project's own types (an Enum in a route file) are not cached, so a reloaded
#: file's old classes are not kept alive.
_SHARED_MODULES = frozenset({"builtins", "uuid", "datetime", "decimal"})
#: ``?x=nan`` and ``?x=inf`` are not numbers a client means (and JSON cannot carry them back).
_FINITE = ConfigDict(allow_inf_nan=False)


def _finite(annotation: Any) -> TypeAdapter[Any]:
    try:
        return TypeAdapter(annotation, config=_FINITE)
    except PydanticUserError:  # a type with its own config (pydantic refuses a second one)
        return TypeAdapter(annotation)


@lru_cache(maxsize=None)
def _shared_adapter(annotation: type) -> TypeAdapter[Any]:
    return _finite(annotation)


def _shown(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else repr(annotation).replace("typing.", "")


def fresh(default: Any) -> Any:
    """A parameter's default as the handler gets it: a copy when it is mutable (``tags: list[str] = []``),
    so that what one request's handler appends to it is not in the next request's (another
    client's) default. Hashable defaults (None, numbers, strings, tuples) are immutable: as is."""
    return default if default.__hash__ is not None else copy.deepcopy(default)


def validate_params(params: tuple[Param, ...], values: Mapping[str, str], getlist: Callable[[str], list[str]] | None,
                    into: dict[str, Any]) -> list[dict[str, Any]]:
    """Validate raw strings into ``into``; the errors (pydantic's shape, ``loc`` starting with
    the parameter name), empty when every value is valid."""
    errors: list[dict[str, Any]] = []
    for param in params:
        if param.many and getlist is not None:
            raw: Any = getlist(param.name)
            present = bool(raw)
        else:
            raw = values.get(param.name)
            present = raw is not None
        if not present:
            if param.required:
                errors.append({"type": "missing", "loc": [param.name], "msg": "Field required"})
            else:
                into[param.name] = fresh(param.default)
            continue
        if param.adapter is None:
            into[param.name] = raw
            continue
        try:
            into[param.name] = param.adapter.validate_python(raw)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_context=False, include_input=False):
                errors.append({**error, "loc": [param.name, *error["loc"]]})
    return errors
