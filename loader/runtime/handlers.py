"""Turning a route handler into an endpoint: validation, response conversion, errors.

A handler is ``async def GET(request)`` (sync handlers run in Starlette's thread pool). It may
declare more parameters annotated with a pydantic model: one named ``query`` is validated from
the query string, any other from the JSON body, before the handler runs; invalid input is a
400 with the field errors. A handler returns a Starlette ``Response`` or any JSON-able value.
An exception is a 500 JSON carrying a request id, logged with the handler's ``path:line``.
Everything that can be decided once is decided here, when the route table is built.
"""

from __future__ import annotations

import inspect
import json
import logging
import typing
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from loader.types import Resource

__all__ = ["prepare_handler", "error_response", "internal_error"]

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


async def _validated(request: Request, params: list[tuple[str, type[BaseModel]]]) -> dict[str, Any] | Response:
    values: dict[str, Any] = {}
    for name, model in params:
        if name == "query":
            raw: Any = dict(request.query_params)
        else:
            body = await request.body()
            try:
                raw = json.loads(body) if body else {}
            except json.JSONDecodeError as exc:
                return error_response(400, "invalid_json", f"request body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
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
        except HTTPException:
            raise
        except Exception as exc:
            return internal_error(request, f"in the handler at {where}", exc)

    return endpoint


def internal_error(request: Request, where: str, exc: Exception) -> JSONResponse:
    """A 500 carrying a request id (the client's ``x-request-id``, or a new one), logged with
    the place that failed and the traceback."""
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:16]
    log.error(
        "%s %s failed %s (request id %s): %s: %s",
        request.method, request.url.path, where, request_id, type(exc).__name__, exc, exc_info=exc,
    )
    return error_response(500, "internal_error", "the server failed to handle this request", request_id=request_id)
