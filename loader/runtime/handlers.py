"""Turning a route handler into an endpoint: validation, response conversion, errors.

A handler is ``async def GET(request)`` (sync handlers run in Starlette's thread pool). What
else it takes — path and query parameters, a query model, a body model — was read from its
signature when its file was collected (:mod:`loader.runtime.signature`); they are validated
before it runs, and invalid input is a 400 naming the parameters at fault. A handler returns a
Starlette ``Response``, a pydantic model, or any JSON-able value.
:func:`response_for` is the one place an exception becomes a response, for handlers, middlewares
and the router alike: Starlette's ``HTTPException`` keeps its status and detail (as JSON);
anything else is a 500 JSON carrying a request id and no exception text, logged with the
handler's ``path:line``.
Everything that can be decided once is decided here, when the route table is built.
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import sys
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from loader.errors import ResourceValidationError
from loader.runtime.signature import HandlerSignature, SignatureError, analyse, fresh, validate_params
from loader.types import Resource

__all__ = [
    "prepare_handler", "signature_of", "error_response", "response_for", "http_error", "internal_error", "request_id",
    "scope_request_id", "logged_path",
]

log = logging.getLogger("loader.http")

Endpoint = Callable[[Request], Awaitable[Response]]


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _is_json(content_type: str) -> bool:
    """``application/json`` or any ``+json`` type (``application/merge-patch+json``), any parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


_NOUNS = {"path": "path parameter", "query": "query parameter", "body": "body field"}


def _invalid(part: str, errors: list[dict[str, Any]]) -> Response:
    """The 400 for an invalid ``part`` (path, query, body): ``invalid path parameter 'id'``,
    naming every parameter or field at fault (``loc[0]`` of each error)."""
    names = list(dict.fromkeys(repr(e["loc"][0]) for e in errors if e.get("loc")))
    if not names:  # the body as a whole (a list where an object was expected)
        return error_response(400, "validation_error", f"invalid {part}", errors=errors)
    noun = _NOUNS[part] + ("s" if len(names) > 1 else "")
    return error_response(400, "validation_error", f"invalid {noun} {', '.join(names)}", errors=errors)


def _model_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return exc.errors(include_url=False, include_context=False, include_input=False)  # type: ignore[return-value]


async def _json_body(request: Request) -> Any:
    """The parsed JSON body (``{}`` when empty), or the 4xx response saying why it is not one."""
    body = await request.body()
    if not body:
        return _EMPTY_BODY
    if not _is_json(request.headers.get("content-type", "")):
        # Also what keeps a cross-site HTML form (text/plain, no preflight) from posting here.
        return error_response(415, "unsupported_media_type", "the request body must be JSON (content-type: application/json)")
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_not_json, parse_float=_finite_float)
        if b"\\u" in body and _SURROGATE_ESCAPE.search(body):
            _check_surrogates(parsed)
        return parsed
    except _NotJson as exc:
        return error_response(400, "invalid_json", f"request body is not valid JSON: {exc}")
    except UnicodeDecodeError as exc:
        return error_response(400, "invalid_json", f"request body is not valid UTF-8 (byte {exc.start})")
    except json.JSONDecodeError as exc:
        return error_response(400, "invalid_json", f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    except RecursionError:
        return error_response(400, "invalid_json", "request body is nested too deeply")
    except ValueError:  # the one left: an integer past Python's digit limit (int("1" * 5000))
        digits = sys.get_int_max_str_digits()
        return error_response(400, "invalid_json", f"request body is not valid JSON: a number with more than {digits} digits")


_EMPTY_BODY = object()
#: ``\ud800``: a UTF-16 surrogate escape. In pairs they are one character (an emoji); alone, a
#: string no UTF-8 can hold, so echoing it back (or storing it) would fail later, as a 500.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _check_surrogates(parsed: Any) -> None:
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _NotJson("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff)") from None


class _NotJson(ValueError):
    pass


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity; JSON (RFC 8259) has neither, and a NaN that reached
    # a handler could not even be sent back (Starlette's JSONResponse refuses it: a 500).
    raise _NotJson(f"{constant} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in _INFINITE:  # 1e999: valid JSON, but no float holds it
        raise _NotJson(f"number {text[:32]} is too large")
    return value


_INFINITE = (float("inf"), float("-inf"))


async def _arguments(request: Request, signature: HandlerSignature) -> dict[str, Any] | Response:
    """The handler's keyword arguments, validated (path, then query, then body), or the 4xx
    response for the first part that is invalid."""
    values: dict[str, Any] = {}
    if signature.path:
        errors = validate_params(signature.path, request.path_params, None, values)
        if errors:
            return _invalid("path", errors)
    if signature.query or signature.query_model:
        query = request.query_params
        if signature.query:
            errors = validate_params(signature.query, query, query.getlist, values)
            if errors:
                return _invalid("query", errors)
        if signature.query_model:
            name, model = signature.query_model
            taken = signature.query_taken
            raw: dict[str, Any] = {k: v for k, v in query.items() if k not in taken} if taken else dict(query)
            for key in signature.query_lists:
                if key in query:
                    raw[key] = query.getlist(key)
            try:
                values[name] = model.model_validate(raw)
            except ValidationError as exc:
                return _invalid("query", _model_errors(exc))
    if signature.body:
        name, model, default = signature.body
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        if body is _EMPTY_BODY:
            if default is not inspect.Parameter.empty:
                values[name] = fresh(default)
                return values
            body = {}
        try:
            values[name] = model.model_validate(body)
        except ValidationError as exc:
            return _invalid("body", _model_errors(exc))
    return values


def signature_of(resource: Resource) -> HandlerSignature:
    """The handler's signature as its route file's collection read it (or read now, for a
    route resource built elsewhere)."""
    signature = resource.meta.get("signature")
    if isinstance(signature, HandlerSignature):
        return signature
    try:
        return analyse(resource.obj, resource.meta["path"])
    except SignatureError as exc:
        raise ResourceValidationError(f"{resource.export}: {exc}", path=resource.source.display, line=resource.line) from None


def _to_json(result: Any) -> Response:
    """What a handler returned, when it is not a Response: a pydantic model or a JSON-able value."""
    if isinstance(result, BaseModel):
        return JSONResponse(result.model_dump(mode="json"))
    try:
        return JSONResponse(result)
    except TypeError:
        pass
    # Models in a list (``-> list[Post]``), dates, UUIDs…: what pydantic knows how to send.
    # Tried second, so that plain JSON keeps json's speed; what pydantic cannot send either
    # raises, and is the handler's 500.
    return JSONResponse(to_jsonable_python(result))


def prepare_handler(resource: Resource) -> Endpoint:
    """The endpoint that runs one route handler: everything but the validation itself is decided here."""
    handler = resource.obj
    # A plain-def decorator around an ``async def`` (functools.wraps) returns its coroutine, and
    # so does an object with ``async def __call__``: awaited, not sent from a worker thread as a 500.
    is_async = any(
        inspect.iscoroutinefunction(f) for f in (handler, inspect.unwrap(handler), getattr(handler, "__call__", None))
    )
    signature = signature_of(resource)
    where = str(resource.location)

    if signature.only_request:  # the common case, kept to one call

        async def endpoint(request: Request) -> Response:
            try:
                result = await handler(request) if is_async else await run_in_threadpool(handler, request)
                return result if isinstance(result, Response) else _to_json(result)
            except Exception as exc:
                return response_for(request, exc, f"in the handler at {where}")

        return endpoint

    request_name, request_first, takes_input = signature.request, signature.request_first, signature.takes_input

    async def endpoint_with_input(request: Request) -> Response:
        try:
            kwargs = await _arguments(request, signature) if takes_input else {}
            if isinstance(kwargs, Response):
                return kwargs
            args: tuple[Any, ...] = ()
            if request_name is not None:
                if request_first:
                    args = (request,)
                else:
                    kwargs[request_name] = request
            result = await handler(*args, **kwargs) if is_async else await run_in_threadpool(handler, *args, **kwargs)
            return result if isinstance(result, Response) else _to_json(result)
        except Exception as exc:
            return response_for(request, exc, f"in the handler at {where}")

    return endpoint_with_input


def response_for(request: Request, exc: Exception, where: str) -> Response:
    """The response for an exception raised ``where`` (a handler, a middleware)."""
    if isinstance(exc, HTTPException):
        return http_error(exc)
    if isinstance(exc, ClientDisconnect):
        # The client hung up before sending its whole body: nothing failed here, and nobody reads
        # the answer. 499 is nginx's "client closed request", for the access log.
        return Response(status_code=CLIENT_CLOSED_REQUEST)
    return internal_error(request, where, exc)


CLIENT_CLOSED_REQUEST = 499


#: RFC 9110's names where older Pythons' ``HTTPStatus`` phrases differ: the code stays the same
#: whichever Python serves.
_RFC_9110_NAMES = {413: "content_too_large", 416: "range_not_satisfiable", 422: "unprocessable_content"}


def http_error(exc: HTTPException) -> Response:
    """``HTTPException(status, detail)`` as JSON with that status and the exception's headers."""
    status, headers = exc.status_code, dict(exc.headers or {})
    if status in (204, 304) or status < 200:  # no body allowed
        return Response(status_code=status, headers=headers)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    code = _RFC_9110_NAMES.get(status) or re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_") or "http_error"
    extra: dict[str, Any] = {}
    if status == 405 and "Allow" in headers:
        extra["allowed"] = [m.strip() for m in headers["Allow"].split(",") if m.strip()]
    message = exc.detail if isinstance(exc.detail, str) else phrase
    if not isinstance(exc.detail, str):
        extra["detail"] = exc.detail
    response = error_response(status, code, message, **extra)
    response.headers.update(headers)
    return response


#: A client's ``x-request-id`` is kept only when it is short and plain; anything else (long,
#: markup, control characters) would be copied into error bodies and logs, so a new id replaces it.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


#: Where a request's id is kept once chosen, so that its error body, its error log line and its
#: access log line all carry the same one.
_REQUEST_ID_KEY = "loader.request_id"


def scope_request_id(scope: Scope) -> str:
    """The request's id: the client's ``x-request-id`` if it is safe to echo, else a new one;
    chosen once per request."""
    chosen: str | None = scope.get(_REQUEST_ID_KEY)
    if chosen is None:
        given = next((value for name, value in scope.get("headers", ()) if name == b"x-request-id"), b"").decode("latin-1")
        chosen = scope[_REQUEST_ID_KEY] = given if _SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
    return chosen


def request_id(request: Request) -> str:
    """The request's id (see :func:`scope_request_id`)."""
    return scope_request_id(request.scope)


def logged_path(scope: Scope) -> str:
    """The request's path for a log line, as the client sent it: still percent-encoded, no query
    string, any byte past ASCII escaped. A decoded path could hold a newline or terminal escape
    codes (``%0a``, ``%1b``), a query string tokens."""
    raw = scope.get("raw_path")
    return raw.split(b"?", 1)[0].decode("ascii", "backslashreplace") if raw else quote(scope.get("path", ""))


def internal_error(request: Request, where: str, exc: Exception) -> JSONResponse:
    """A 500 carrying a request id, logged with the place that failed and the traceback; the
    body says nothing of the exception (no text, SQL or paths)."""
    rid = request_id(request)
    log.error(
        "%s %s failed %s (request id %s): %s: %s",
        request.method, logged_path(request.scope), where, rid, type(exc).__name__, exc, exc_info=exc,
    )
    return error_response(500, "internal_error", "the server failed to handle this request", request_id=rid)
