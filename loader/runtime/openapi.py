"""The OpenAPI 3.1 document of a set of route handlers.

Built from what the route table serves (or, for ``loader openapi``, from the registry's active
routes) and from each handler's :class:`~loader.runtime.signature.HandlerSignature`: path and
query parameters, the request body, the success response from the return annotation, and the
JSON error responses loader itself answers (400, 404, 413, 415, 500). Every pydantic type is
turned into JSON Schema in one pass (``TypeAdapter.json_schemas``), so two models of the same
name in different files get distinct names, and their ``$defs`` land in
``components/schemas``. Operation ids are derived from the method and the path only, so they
are the same after any reload. See ``docs/routes.md`` ("OpenAPI").
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import CoreModeRef, CoreRef, DefsRef, GenerateJsonSchema
from pydantic_core import to_json
from starlette.responses import Response

from loader.runtime.handlers import signature_of
from loader.runtime.signature import HandlerSignature, Param, path_params_of
from loader.types import Resource

__all__ = ["openapi_document", "openapi_json", "operation_id", "ERROR_SCHEMA_NAME"]

log = logging.getLogger("loader.http")

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{model}"

#: The name of loader's error body in ``components/schemas`` (not "Error": a project may have one).
ERROR_SCHEMA_NAME = "LoaderError"
_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "LoaderError",
    "description": "Every error loader answers: a stable code, a message, and details by case.",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "A stable snake_case code: validation_error, not_found…"},
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "pydantic's errors (validation_error)"},
        "request_id": {"type": "string", "description": "The id of a 500, as logged on the server"},
        "allowed": {"type": "array", "items": {"type": "string"}},
        "detail": {},
    },
}
_ERRORS: dict[str, str] = {
    "400": "Invalid input: a path parameter, query parameter or body that does not validate, or a body that is not JSON",
    "404": "Not found",
    "413": "Request body larger than project.http.max_body_size",
    "415": "Request body that is not JSON (content-type application/json or +json)",
    "500": "The handler failed; the body carries a request id and nothing of the exception",
}


def operation_id(method: str, path: str) -> str:
    """``get_store_posts_id`` for ``GET /store/posts/{id}``: stable across reloads and boots."""
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_")
    return f"{method.lower()}_{slug or 'root'}"


def openapi_document(routes: Iterable[Resource], *, title: str, version: str = "0.0.0", health: bool = True) -> dict[str, Any]:
    """The document for ``routes`` (active route resources), as a JSON-able dict.

    Args:
        routes: The route handlers to describe, in any order (the document is sorted by path).
        title: ``info.title``.
        version: ``info.version``: the API's version, not loader's.
        health: Describe loader's ``GET /health`` unless a route serves that path.
    """
    ordered = sorted(routes, key=lambda r: (r.meta["path"], _METHOD_ORDER.get(r.meta["method"], 99)))
    signatures = [(r, signature_of(r)) for r in ordered]
    schemas = _Schemas(signatures)
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    for index, (resource, signature) in enumerate(signatures):
        method, path = resource.meta["method"], resource.meta["path"]
        op_id = operation_id(method, path)
        while op_id in used_ids:  # ``/a-b`` and ``/a_b``: rare, and the order is the sorted paths
            op_id += "_"
        used_ids.add(op_id)
        paths.setdefault(path, {})[method.lower()] = _operation(resource, signature, index, op_id, schemas)
    if health and "/health" not in paths:
        paths["/health"] = {"get": {
            "operationId": "get_health", "summary": "Liveness check, answered by loader", "tags": ["loader"],
            "responses": {"200": {"description": "The server is up", "content": {"application/json": {"schema": {
                "type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}}}},
        }}
    components: dict[str, Any] = {
        "schemas": {**schemas.definitions, ERROR_SCHEMA_NAME: _ERROR_SCHEMA},
        "responses": {
            code: {"description": text, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}}}
            for code, text in _ERRORS.items()
        },
    }
    return {"openapi": OPENAPI_VERSION, "info": {"title": title, "version": version}, "paths": paths, "components": components}


def openapi_json(document: dict[str, Any], indent: int | None = None) -> bytes:
    """The document as JSON that any parser reads: a default of ``float("inf")`` or NaN (which
    pydantic puts in a schema as it is, and json would write as the non-JSON ``Infinity``) is
    written as a string, and a value JSON has no type for (a set in ``json_schema_extra``) as
    what pydantic makes of it, else its str."""
    return to_json(document, indent=indent, inf_nan_mode="strings", serialize_unknown=True)


_METHOD_ORDER = {m: i for i, m in enumerate(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))}


class _Schemas:
    """Every JSON Schema the document needs, generated together so ``$ref`` names are unique."""

    def __init__(self, signatures: list[tuple[Resource, HandlerSignature]]) -> None:
        inputs: list[tuple[Any, Any, TypeAdapter[Any]]] = []
        for index, (resource, signature) in enumerate(signatures):
            for param in (*signature.path, *signature.query):
                if param.adapter is not None:
                    inputs.append(((index, "param", param.name), "validation", param.adapter))
            if signature.query_model:
                inputs.append(((index, "query", ""), "validation", _adapter(signature.query_model[1])))
            if signature.body:
                inputs.append(((index, "body", ""), "validation", _adapter(signature.body[1])))
            returns = _returned(signature)
            if returns is not None:
                inputs.append(((index, "returns", ""), "serialization", returns))
        self.by_key: dict[Any, dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}
        try:
            self._generate(inputs)
        except Exception:  # one type pydantic cannot describe: describe the others, one at a time
            for item in inputs:
                try:
                    self._generate([item])
                except Exception as exc:
                    resource = signatures[item[0][0]][0]
                    log.warning("OpenAPI: no schema for %s at %s: %s", item[0][1], resource.location, exc)

    def _generate(self, inputs: list[tuple[Any, Any, TypeAdapter[Any]]]) -> None:
        if not inputs:
            return
        by_key, definitions = TypeAdapter.json_schemas(inputs, ref_template=_REF, schema_generator=_SchemaNames)
        self.by_key.update({key: schema for (key, _mode), schema in by_key.items()})
        self.definitions.update(definitions.get("$defs", {}))

    def get(self, index: int, role: str, name: str = "") -> dict[str, Any]:
        """The schema of one input or output; ``{}`` (anything) when there is none."""
        return self.by_key.get((index, role, name), {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema with a top-level ``$ref`` replaced by its definition (to list a query model's fields)."""
        ref = schema.get("$ref", "")
        return self.definitions.get(ref.rsplit("/", 1)[-1], schema) if ref.startswith("#/components/schemas/") else schema


#: A ``[id]`` folder in a module name (``src.api.items.[id].route``), which pydantic would take
#: for a generic's parameters when it names the schema (``items___id___Item`` for ``Item``).
_FOLDER_PARAM = re.compile(r"\.\[([A-Za-z_][A-Za-z0-9_]*)\]\.")


class _SchemaNames(GenerateJsonSchema):
    """pydantic's schema generator, naming models from route files by their class name."""

    def get_defs_ref(self, core_mode_ref: CoreModeRef) -> DefsRef:
        core_ref, mode = core_mode_ref
        return super().get_defs_ref((CoreRef(_FOLDER_PARAM.sub(r".\1.", core_ref)), mode))


def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(model)


def _returned(signature: HandlerSignature) -> TypeAdapter[Any] | None:
    """An adapter for the return annotation, unless it is absent, ``None`` or a Starlette Response."""
    returns = signature.returns
    if returns is None or returns is type(None) or (isinstance(returns, type) and issubclass(returns, Response)):
        return None
    try:
        return TypeAdapter(returns)
    except Exception:  # ``-> SomethingPydanticCannotHandle``: documented as any JSON
        return None


def _operation(resource: Resource, signature: HandlerSignature, index: int, op_id: str, schemas: _Schemas) -> dict[str, Any]:
    path = resource.meta["path"]
    doc = inspect.getdoc(resource.obj) or ""
    summary, _, description = doc.partition("\n\n")
    operation: dict[str, Any] = {"operationId": op_id}
    if summary.strip():  # without a docstring the docs page shows the method and path alone
        operation["summary"] = " ".join(summary.split())
    if description.strip():
        operation["description"] = description.strip()
    first = next((s for s in path.strip("/").split("/") if s and not s.startswith("{")), "")
    if first:
        operation["tags"] = [first]
    parameters = _parameters(signature, index, path, schemas)
    if parameters:
        operation["parameters"] = parameters
    if signature.body:
        name, _model, default = signature.body
        operation["requestBody"] = {
            "required": default is inspect.Parameter.empty,
            "content": {"application/json": {"schema": schemas.get(index, "body")}},
        }
    success: dict[str, Any] = {"description": "Successful response", "content": {"application/json": {"schema": schemas.get(index, "returns")}}}
    responses: dict[str, Any] = {"200": success}
    if signature.takes_input:
        responses["400"] = {"$ref": "#/components/responses/400"}
    if "{" in path:
        responses["404"] = {"$ref": "#/components/responses/404"}
    if signature.body:
        responses["413"] = {"$ref": "#/components/responses/413"}
        responses["415"] = {"$ref": "#/components/responses/415"}
    responses["500"] = {"$ref": "#/components/responses/500"}
    # A handler may answer any status it likes (a 201, a 409): loader cannot know them.
    responses["default"] = {"description": "Any other response the handler returns"}
    operation["responses"] = responses
    return operation  # no source path in it: the document may be public, the layout of src/ is not


def _parameters(signature: HandlerSignature, index: int, path: str, schemas: _Schemas) -> list[dict[str, Any]]:
    declared = {p.name: p for p in signature.path}
    parameters = []
    for name in path_params_of(path):  # every path parameter, declared by the handler or not
        param = declared.get(name)
        parameters.append({"name": name, "in": "path", "required": True, "schema": _param_schema(param, index, schemas)})
    for param in signature.query:
        entry: dict[str, Any] = {"name": param.name, "in": "query", "required": param.required, "schema": _param_schema(param, index, schemas)}
        if param.many:
            entry.update(style="form", explode=True)
        parameters.append(entry)
    if signature.query_model:
        model = schemas.resolve(schemas.get(index, "query"))
        required = set(model.get("required", ()))
        seen = {p["name"] for p in parameters}
        for name, schema in model.get("properties", {}).items():
            if name not in seen:
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    return parameters


def _param_schema(param: Param | None, index: int, schemas: _Schemas) -> dict[str, Any]:
    if param is None or param.adapter is None:
        return {"type": "string"}
    return schemas.get(index, "param", param.name)
