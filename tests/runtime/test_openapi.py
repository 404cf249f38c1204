"""The OpenAPI document and the docs page: content, offline assets, switches, CLI, reloads."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

import loader
from loader import ConfigError
from loader.runtime.application import Application
from tests.runtime.conftest import serve
from tests.runtime.test_start import free_port, wait_for
from tests.test_cli import run

PROJECT = {
    "src/api/items/[id]/route.py": '''
        from pydantic import BaseModel

        class Tag(BaseModel):
            name: str

        class Item(BaseModel):
            id: int
            tags: list[Tag] = []

        class ItemIn(BaseModel):
            title: str

        async def GET(id: int) -> Item:
            """Read one item.

            Longer words about it.
            """
            return Item(id=id, tags=[Tag(name="new")])

        async def PUT(request, id: int, body: ItemIn):
            return {"id": id, "title": body.title}
    ''',
    "src/api/search/route.py": """
        from typing import Literal
        from pydantic import BaseModel

        class Filters(BaseModel):
            sort: Literal["asc", "desc"] = "asc"

        async def GET(request, q: str, query: Filters, limit: int = 10, tags: list[str] = []):
            return {"q": q}
    """,
    "src/api/a/notes/route.py": """
        from pydantic import BaseModel

        class Note(BaseModel):
            text: str

        async def POST(note: Note):
            return {}
    """,
    "src/api/b/notes/route.py": """
        from pydantic import BaseModel

        class Note(BaseModel):
            stars: int

        async def POST(note: Note):
            return {}
    """,
    "src/api/off/route.py": """
        from loader import define_file_config

        define_file_config(is_disabled=lambda: True)

        async def GET(request):
            return {}
    """,
    "loader_config.py": 'from loader import define_config\n\nconfig = define_config(plugins=["greetings"])\n',
}


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def fetch_document(root: Path, **options: Any) -> dict[str, Any]:
    async def scenario(http, app):
        response = await http.get("/openapi.json")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        return response.json()

    return serve(root, scenario, **options)


def test_the_document_describes_parameters_bodies_responses_and_plugins(make_project) -> None:
    document = fetch_document(make_project(PROJECT))
    assert document["openapi"] == "3.1.0" and document["info"] == {"title": "proj", "version": "0.0.0"}
    paths = document["paths"]
    assert set(paths) == {"/items/{id}", "/search", "/a/notes", "/b/notes", "/greetings", "/greetings/{name}", "/health"}
    assert "/off" not in paths  # disabled routes are left out

    read = paths["/items/{id}"]["get"]
    assert read["operationId"] == "get_items_id"
    assert (read["summary"], read["description"]) == ("Read one item.", "Longer words about it.")
    assert read["parameters"] == [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    assert read["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Item"}
    assert {"400", "404", "500"} <= set(read["responses"])
    update = paths["/items/{id}"]["put"]
    assert update["requestBody"] == {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ItemIn"}}}}
    assert {"400", "413", "415", "500"} <= set(update["responses"])
    assert update["responses"]["413"] == {"$ref": "#/components/responses/413"}

    search = {p["name"]: p for p in paths["/search"]["get"]["parameters"]}
    assert search["q"] == {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}}
    assert search["limit"]["required"] is False and search["limit"]["schema"]["type"] == "integer"
    assert search["tags"]["schema"] == {"type": "array", "items": {"type": "string"}} and search["tags"]["explode"] is True
    assert search["sort"]["schema"]["enum"] == ["asc", "desc"] and search["sort"]["required"] is False

    greeting = paths["/greetings/{name}"]["get"]  # a plugin's route, with an undeclared path parameter
    assert greeting["parameters"] == [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}]

    schemas = document["components"]["schemas"]
    assert schemas["Item"]["properties"]["tags"]["items"] == {"$ref": "#/components/schemas/Tag"}  # $defs hoisted
    assert "$defs" not in json.dumps(document)
    notes = [paths[p]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"] for p in ("/a/notes", "/b/notes")]
    assert notes[0] != notes[1]  # two models named Note, two schemas
    assert {tuple(resolve(document, ref)["required"]) for ref in notes} == {("text",), ("stars",)}
    error = resolve(document, document["components"]["responses"]["400"]["content"]["application/json"]["schema"]["$ref"])
    assert error["required"] == ["error", "message"]
    for ref in refs(document):
        resolve(document, ref)  # every reference points at something
    assert "route.py" not in json.dumps(document)  # no source layout in a document that may be public


def test_operation_ids_are_unique_and_follow_method_and_path(make_project) -> None:
    document = fetch_document(make_project(PROJECT))
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert {"get_search", "post_a_notes", "post_b_notes", "put_items_id", "get_greetings_name", "get_health"} <= set(ids)


def test_the_document_follows_reloads_with_stable_operation_ids(make_project) -> None:
    root = make_project({
        "src/api/items/[id]/route.py": "async def GET(id: int):\n    return {}\n",
        "src/api/other/route.py": "async def GET(request):\n    return {}\n",
    })

    async def scenario(http, app):
        first = (await http.get("/openapi.json")).json()
        again = (await http.get("/openapi.json")).json()
        path = root / "src/api/items/[id]/route.py"
        path.write_text("import uuid\n\nasync def GET(id: uuid.UUID, verbose: bool = False):\n    return {}\n")
        added = root / "src/api/new/route.py"
        added.parent.mkdir(parents=True)
        added.write_text("async def POST(request):\n    return {}\n")
        report = await app.reload([path, added])
        assert report.ok, report.errors
        second = (await http.get("/openapi.json")).json()
        added.unlink()
        assert (await app.reload([added])).ok
        third = (await http.get("/openapi.json")).json()
        return first, again, second, third

    first, again, second, third = serve(root, scenario)
    assert first == again
    assert first["paths"]["/items/{id}"]["get"]["parameters"][0]["schema"] == {"type": "integer"}
    params = second["paths"]["/items/{id}"]["get"]["parameters"]
    assert params[0]["schema"] == {"type": "string", "format": "uuid"}
    assert params[1]["name"] == "verbose" and params[1]["in"] == "query"
    assert second["paths"]["/new"]["post"]["operationId"] == "post_new"
    assert "/new" not in third["paths"]
    for document in (first, second, third):
        assert document["paths"]["/other"]["get"]["operationId"] == "get_other"
        assert document["paths"]["/items/{id}"]["get"]["operationId"] == "get_items_id"


ASSETS = Path(loader.__file__).parent / "runtime" / "swagger_ui"


def test_the_docs_page_loads_its_assets_from_loader(make_project) -> None:
    root = make_project({"src/api/hello/route.py": "async def GET(request):\n    return {}\n"})

    async def scenario(http, app):
        page = await http.get("/docs")
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assets = {url: await http.get(f"/{url}") for url in urls}  # relative to /docs: /docs/...
        head = await http.head("/docs/swagger-ui-bundle.js")
        missing = await http.get("/docs/nope.js")
        return page, assets, head, missing

    page, assets, head, missing = serve(root, scenario)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'data-openapi-url="openapi.json"' in page.text
    assert not re.search(r"https?://", page.text)  # nothing from a CDN
    assert set(assets) == {"docs/favicon-32x32.png", "docs/swagger-ui.css", "docs/swagger-ui-bundle.js", "docs/loader-init.js"}
    for url, response in assets.items():
        assert response.status_code == 200, url
        assert response.content == (ASSETS / url.removeprefix("docs/")).read_bytes()
    assert assets["docs/swagger-ui-bundle.js"].headers["content-type"].startswith("text/javascript")
    assert assets["docs/swagger-ui.css"].headers["content-type"].startswith("text/css")
    assert "SwaggerUIBundle" in assets["docs/swagger-ui-bundle.js"].text
    assert not re.search(r"https?://", assets["docs/loader-init.js"].text)
    assert head.status_code == 200 and head.content == b""
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert (ASSETS / name).is_file()  # the license travels with the files


def config(http: str) -> str:
    return f"from loader import define_config\n\nconfig = define_config(project={{'http': {http}}})\n"


@pytest.mark.parametrize(("http", "options", "document", "page"), [
    ("{}", {}, 200, 200),  # in process: on by default
    ("{}", {"openapi_default": False}, 404, 404),  # what `loader start` passes
    ("{'openapi': True}", {"openapi_default": False}, 200, 200),
    ("{'openapi': False}", {}, 404, 404),
    ("{'docs': False}", {}, 200, 404),
    ("{'openapi': True, 'docs': False}", {"openapi_default": False}, 200, 404),
    ("{'docs': True}", {"openapi_default": False}, 200, 200),  # asking for the page publishes what it shows
    ("{}", {"worker_mode": "worker"}, 404, 404),  # a worker serves no routes, so no document
])
def test_switches(make_project, http: str, options: dict[str, Any], document: int, page: int) -> None:
    root = make_project({"src/api/hello/route.py": "async def GET(request):\n    return {}\n", "loader_config.py": config(http)})

    async def scenario(http_client, app):
        return (await http_client.get("/openapi.json")).status_code, (await http_client.get("/docs")).status_code

    assert serve(root, scenario, **options) == (document, page)


@pytest.mark.parametrize(("http", "message"), [
    ("{'openapi': False, 'docs': True}", "docs is true but openapi is false"),
    ("{'openapi': 'yes'}", "openapi"),
    ("{'docs': 1}", "docs"),
])
def test_bad_switch_values_are_config_errors(make_project, http: str, message: str) -> None:
    root = make_project({"loader_config.py": config(http)})
    with pytest.raises(ConfigError, match=message):
        Application(root).boot()


def test_hostile_requests_to_the_docs_paths(make_project) -> None:
    root = make_project({"src/api/hello/route.py": "async def GET(request):\n    return {}\n"}, name='<b>&"proj')

    async def scenario(http, app):
        return (
            await http.post("/openapi.json", json={}),
            await http.delete("/docs"),
            await http.head("/openapi.json"),
            await http.get("/docs/..%2f..%2fcli.py"),
            await http.get("/docs/../cli.py"),
            await http.get("/docs/"),
            await http.get("/docs"),
        )

    posted, deleted, head, encoded, dotted, slash, page = serve(root, scenario)
    assert posted.status_code == 405 and posted.json()["allowed"] == ["GET", "HEAD"] and posted.headers["allow"] == "GET, HEAD"
    assert deleted.status_code == 405
    assert head.status_code == 200 and head.content == b""
    for response in (encoded, dotted, slash):
        assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert "<title>&lt;b&gt;&amp;&quot;proj 0.0.0" in page.text and "<b>" not in page.text


def test_a_project_route_at_the_same_path_wins(make_project) -> None:
    root = make_project({
        "src/api/docs/route.py": "async def GET(request):\n    return {'mine': True}\n",
        "src/api/openapi.json/route.py": "async def POST(request):\n    return {'posted': True}\n",
    })

    async def scenario(http, app):
        return await http.get("/docs"), await http.get("/openapi.json"), await http.get("/docs/swagger-ui.css")

    docs, document, asset = serve(root, scenario)
    assert docs.json() == {"mine": True}
    assert document.status_code == 405  # the project's /openapi.json takes POST only
    assert asset.status_code == 200  # no project route there


@pytest.mark.slow
def test_loader_start_serves_no_document_unless_enabled(make_project) -> None:
    root = make_project({"src/api/hello/route.py": "async def GET(request):\n    return {}\n"})
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "loader", "start", str(root), "--port", str(port), "--grace", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health", server)
        statuses = [httpx.get(f"{base}{path}").status_code for path in ("/openapi.json", "/docs", "/docs/swagger-ui.css", "/hello")]
    finally:
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    assert statuses == [404, 404, 404, 200]


def test_loader_openapi_prints_the_served_document(make_project) -> None:
    root = make_project(PROJECT)
    result = run("openapi", str(root))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == fetch_document(root)


def test_loader_openapi_exits_1_and_names_the_broken_file(make_project) -> None:
    root = make_project({
        "src/api/ok/route.py": "async def GET(request):\n    return {}\n",
        "src/api/bad/route.py": "async def GET(request, x: dict):\n    return {}\n",
    })
    result = run("openapi", str(root))
    assert result.returncode == 1
    assert set(json.loads(result.stdout)["paths"]) == {"/ok", "/health"}
    assert "src/api/bad/route.py:1: GET: parameter 'x'" in result.stderr and "Traceback" not in result.stderr


def test_an_unschemable_type_does_not_break_the_document(make_project) -> None:
    root = make_project({
        "src/api/odd/route.py": textwrap.dedent("""
            from collections.abc import Callable
            from pydantic import BaseModel

            class Job(BaseModel):
                name: str
                run: Callable[[], None] | None = None

            async def POST(job: Job):
                return {}
        """),
        "src/api/fine/[id]/route.py": "async def GET(id: int):\n    return {}\n",
    })
    document = fetch_document(root)
    assert document["paths"]["/fine/{id}"]["get"]["parameters"][0]["schema"] == {"type": "integer"}
    assert document["paths"]["/odd"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {}


def test_an_infinite_default_still_makes_a_json_document(make_project) -> None:
    # pydantic puts float("inf") in the schema as it is, and json wrote it as Infinity: a
    # document that JSON parsers (the docs page's included) refuse.
    root = make_project({
        "src/api/limits/route.py": textwrap.dedent("""
            from pydantic import BaseModel

            class Limit(BaseModel):
                ceiling: float = float("inf")

            async def POST(limit: Limit) -> Limit:
                return limit
        """),
    })
    result = run("openapi", str(root))
    assert result.returncode == 0, result.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    for text in (result.stdout, json.dumps(fetch_document(root))):
        document = json.loads(text, parse_constant=refuse)
        assert document["components"]["schemas"]["Limit"]["properties"]["ceiling"]["default"] == "Infinity"
