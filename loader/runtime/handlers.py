"""Turning a route handler into an endpoint: validation, response conversion, errors.

A handler is ``async def GET(request)`` (sync handlers run in Starlette's thread pool). It may
declare more parameters annotated with a pydantic model: one named ``query`` is validated from
the query string, any other from the JSON body, before the handler runs; invalid input is a
400 with the field errors. A handler returns a Starlette ``Response`` or any JSON-able value.
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
import typing
import uuid
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Scope

from loader.types import Resource

__all__ = ["prepare_handler", "error_response", "response_for", "http_error", "internal_error", "request_id", "scope_request_id"]

log = logging.getLogger("loader.http")

Endpoint = Callable[[Request], Awaitable[Response]]


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status)


def _model_params(handler: Callable[..., Any]) -> list[tuple[str, type[BaseModel]]]:
    """``(name, model)`` of each parameter after ``request`` annotated with a pydantic model."""
    try:
        hints = typing.get_type_hints(handler)
    except Exception:  # an annotation that does not resolve: the handler takes only the request
        hints = {}
    params = list(inspect.signature(handler).parameters)[1:]
    return [(name, hints[name]) for name in params if isinstance(hints.get(name), type) and issubclass(hints[name], BaseModel)]


def _is_json(content_type: str) -> bool:
    """``application/json`` or any ``+json`` type (``application/merge-patch+json``), any parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def _validated(request: Request, params: list[tuple[str, type[BaseModel]]]) -> dict[str, Any] | Response:
    values: dict[str, Any] = {}
    for name, model in params:
        if name == "query":
            raw: Any = dict(request.query_params)
        else:
            body = await request.body()
            if body and not _is_json(request.headers.get("content-type", "")):
                # Also what keeps a cross-site HTML form (text/plain, no preflight) from posting here.
                return error_response(415, "unsupported_media_type", "the request body must be JSON (content-type: application/json)")
            try:
                raw = json.loads(body.decode("utf-8")) if body else {}
            except UnicodeDecodeError as exc:
                return error_response(400, "invalid_json", f"request body is not valid UTF-8 (byte {exc.start})")
            except json.JSONDecodeError as exc:
                return error_response(400, "invalid_json", f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
            except RecursionError:
                return error_response(400, "invalid_json", "request body is nested too deeply")
        try:
            values[name] = model.model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            return error_response(400, "validation_error", f"invalid {'query' if name == 'query' else 'body'}", errors=errors)
    return values


def prepare_handler(resource: Resource) -> Endpoint:
    """The endpoint that runs one route handler."""
    handler = resource.obj
    is_async = inspect.iscoroutinefunction(handler)
    params = _model_params(handler)
    where = str(resource.location)

    async def endpoint(request: Request) -> Response:
        try:
            kwargs: dict[str, Any] = {}
            if params:
                checked = await _validated(request, params)
                if isinstance(checked, Response):
                    return checked
                kwargs = checked
            result = await handler(request, **kwargs) if is_async else await run_in_threadpool(handler, request, **kwargs)
            return result if isinstance(result, Response) else JSONResponse(result)
        except Exception as exc:
            return response_for(request, exc, f"in the handler at {where}")

    return endpoint


def response_for(request: Request, exc: Exception, where: str) -> Response:
    """The response for an exception raised ``where`` (a handler, a middleware)."""
    if isinstance(exc, HTTPException):
        return http_error(exc)
    return internal_error(request, where, exc)


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


def internal_error(request: Request, where: str, exc: Exception) -> JSONResponse:
    """A 500 carrying a request id, logged with the place that failed and the traceback; the
    body says nothing of the exception (no text, SQL or paths)."""
    rid = request_id(request)
    log.error(
        "%s %s failed %s (request id %s): %s: %s",
        request.method, request.url.path, where, rid, type(exc).__name__, exc, exc_info=exc,
    )
    return error_response(500, "internal_error", "the server failed to handle this request", request_id=rid)
