"""Typed handler parameters: path and query parameters, query and body models, the request when
asked for — over real ASGI on on-disk projects — and signatures loader cannot call, refused when
the route file loads (``path:line``), never at request time."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

from loader import ResourceValidationError
from loader.runtime.application import Application
from tests.runtime.conftest import serve
from tests.test_cli import run

TYPED = {
    "src/api/items/[id]/route.py": """
        async def GET(request, id: int):
            return {"id": id, "type": type(id).__name__}
    """,
    "src/api/users/[uid]/route.py": """
        import uuid

        async def GET(uid: uuid.UUID):
            return {"uid": str(uid), "type": type(uid).__name__}
    """,
    "src/api/pages/[slug]/route.py": """
        async def GET(slug):
            return {"slug": slug, "type": type(slug).__name__}
    """,
    "src/api/shops/[shop]/items/[n]/route.py": """
        from starlette.requests import Request

        def GET(n: int, req: Request, shop: str):
            return {"shop": shop, "n": n, "path": req.url.path}
    """,
}


def test_path_parameters_are_converted_by_their_annotation(make_project) -> None:
    root = make_project(TYPED)
    uid = uuid.uuid4()

    async def scenario(http, app):
        return [
            (await http.get(path)).json()
            for path in ("/items/42", f"/users/{uid}", "/pages/hello-world", "/shops/acme/items/7")
        ]

    item, user, page, nested = serve(root, scenario)
    assert item == {"id": 42, "type": "int"}
    assert user == {"uid": str(uid), "type": "UUID"}
    assert page == {"slug": "hello-world", "type": "str"}
    assert nested == {"shop": "acme", "n": 7, "path": "/shops/acme/items/7"}


def test_a_wrong_path_value_is_a_400_naming_the_parameter(make_project) -> None:
    root = make_project(TYPED)

    async def scenario(http, app):
        return await http.get("/items/abc"), await http.get("/users/not-a-uuid"), await http.get("/items/1.5")

    item, user, fraction = serve(root, scenario)
    assert item.status_code == 400, item.text
    assert item.json()["error"] == "validation_error"
    assert item.json()["message"] == "invalid path parameter 'id'"
    [error] = item.json()["errors"]
    assert error["loc"] == ["id"] and error["type"] == "int_parsing"
    assert "input" not in error  # the client's value is not echoed back
    assert user.status_code == 400 and user.json()["message"] == "invalid path parameter 'uid'"
    assert user.json()["errors"][0]["loc"] == ["uid"]
    assert fraction.status_code == 400


QUERY = """
    from pydantic import BaseModel, Field

    class Page(BaseModel):
        limit: int = Field(10, ge=1, le=100)

    async def GET(request, q: str, query: Page, page: int = 1, tags: list[str] = [], exact: bool = False):
        return {"q": q, "page": page, "tags": tags, "exact": exact, "limit": query.limit}
"""


def test_query_parameters_and_a_query_model(make_project) -> None:
    root = make_project({"src/api/search/route.py": QUERY})

    async def scenario(http, app):
        return (
            await http.get("/search?q=shoes"),
            await http.get("/search?q=shoes&page=3&tags=a&tags=b&exact=yes&limit=5"),
            await http.get("/search"),
            await http.get("/search?q=x&page=two"),
            await http.get("/search?q=x&limit=500"),
        )

    defaults, given, missing, bad_page, bad_limit = serve(root, scenario)
    assert defaults.json() == {"q": "shoes", "page": 1, "tags": [], "exact": False, "limit": 10}
    assert given.json() == {"q": "shoes", "page": 3, "tags": ["a", "b"], "exact": True, "limit": 5}
    assert missing.status_code == 400 and missing.json()["message"] == "invalid query parameter 'q'"
    assert missing.json()["errors"] == [{"type": "missing", "loc": ["q"], "msg": "Field required"}]
    assert bad_page.status_code == 400 and bad_page.json()["message"] == "invalid query parameter 'page'"
    assert bad_limit.status_code == 400 and bad_limit.json()["message"] == "invalid query parameter 'limit'"
    assert bad_limit.json()["errors"][0]["type"] == "less_than_equal"


BODY = """
    from __future__ import annotations  # string annotations resolve as well

    from pydantic import BaseModel

    class Note(BaseModel):
        text: str
        stars: int = 0

    class Saved(BaseModel):
        id: int
        note: Note

    async def PUT(id: int, note: Note) -> Saved:
        return Saved(id=id, note=note)

    async def PATCH(id: int, note: Note | None = None):
        return {"id": id, "note": None if note is None else note.text}
"""


def test_a_body_model_with_path_parameters(make_project) -> None:
    root = make_project({"src/api/notes/[id]/route.py": BODY})

    async def scenario(http, app):
        return (
            await http.put("/notes/3", json={"text": "hi", "stars": 2}),
            await http.put("/notes/3", json={"stars": "many"}),
            await http.put("/notes/x", json={"text": "hi"}),
            await http.put("/notes/3", json=[1, 2]),
            await http.patch("/notes/4"),
            await http.patch("/notes/4", json={"text": "yo"}),
        )

    saved, invalid, bad_id, not_object, empty, given = serve(root, scenario)
    assert saved.status_code == 200 and saved.json() == {"id": 3, "note": {"text": "hi", "stars": 2}}
    assert invalid.status_code == 400 and invalid.json()["message"] == "invalid body fields 'text', 'stars'"
    assert {tuple(e["loc"]) for e in invalid.json()["errors"]} == {("text",), ("stars",)}
    assert bad_id.status_code == 400 and bad_id.json()["message"] == "invalid path parameter 'id'"
    assert not_object.status_code == 400 and not_object.json()["message"] == "invalid body"
    assert empty.json() == {"id": 4, "note": None}
    assert given.json() == {"id": 4, "note": "yo"}


UNSATISFIABLE = {
    # (file, source, line of the handler, what the message says)
    "typo": ("src/api/typo/[id]/route.py", "# a typo\n\nasync def GET(request, idd):\n    return {}\n", 3,
             "GET: parameter 'idd' is not a path parameter of /typo/{id} (its path parameters: id)"),
    "two_bodies": ("src/api/two/route.py", (
        "from pydantic import BaseModel\n\nclass A(BaseModel):\n    x: int\n\n\n"
        "async def POST(request, a: A, b: A):\n    return {}\n"), 7,
        "POST: parameters 'a' and 'b' are both pydantic models"),
    "bad_path_type": ("src/api/things/[id]/route.py", (
        "class Thing:\n    pass\n\n\ndef helper():\n    pass\n\n\nasync def DELETE(request, id: Thing):\n    return {}\n"), 9,
        "DELETE: path parameter 'id' of /things/{id} is annotated Thing"),
    "not_queryable": ("src/api/dicts/route.py", "async def GET(request, filters: dict):\n    return {}\n", 1,
                      "GET: parameter 'filters' is annotated dict"),
    "positional_only": ("src/api/posonly/route.py", "async def GET(request, limit: int, /):\n    return {}\n", 1,
                        "GET: parameter 'limit' is positional-only; only the request may be"),
    "unresolved": ("src/api/unresolved/route.py", (
        "from __future__ import annotations\n\n\nasync def GET(request, x: Missing):\n    return {}\n"), 4,
        "GET: the annotation of parameter 'x' (Missing) does not resolve"),
    "int_literal": ("src/api/modes/route.py", (
        "from typing import Literal, Optional\n\nasync def GET(request, mode: Optional[Literal[1, 2]] = None):\n    return {}\n"), 3,
        "GET: parameter 'mode' is annotated Optional[Literal[1, 2]], but a value read from the URL is a string and never equals 1"),
    "int_literal_in_query_model": ("src/api/sorted/route.py", (
        "from typing import Literal\nfrom pydantic import BaseModel\n\nclass Q(BaseModel):\n    order: Literal[1, -1] = 1\n\n\n"
        "async def GET(query: Q):\n    return {}\n"), 8,
        "GET: field 'Q.order' is annotated Literal[1, -1], but a value read from the URL is a string and never equals 1"),
    "async_generator": ("src/api/agen/route.py", "async def GET(request):\n    yield {}\n", 1,
                        "GET: it is an async generator (it yields)"),
}


def unsatisfiable_project(make_project) -> Path:
    files = {path: source for path, source, _, _ in UNSATISFIABLE.values()}
    files["src/api/ok/[id]/route.py"] = "async def GET(request, id: int):\n    return {'id': id}\n"
    return make_project(files)


def test_unsatisfiable_signatures_are_load_errors_with_path_and_line(make_project) -> None:
    root = unsatisfiable_project(make_project)

    async def scenario(http, app):
        statuses = {name: (await http.get(path.replace("src/api", "").replace("/route.py", "").replace("[id]", "1"))).status_code
                    for name, (path, *_rest) in UNSATISFIABLE.items()}
        return app.errors, statuses, (await http.get("/ok/5")).json()

    errors, statuses, ok = serve(root, scenario)
    by_path = {e.path: e for e in errors}
    for name, (path, _, line, message) in UNSATISFIABLE.items():
        error = by_path[path]
        assert isinstance(error, ResourceValidationError), name
        assert error.line == line, (name, error)
        assert error.message.startswith(message), (name, error.message)
    assert len(errors) == len(UNSATISFIABLE)
    assert set(statuses.values()) == {404}  # the broken files are out of the route table
    assert ok == {"id": 5}


def test_loader_inspect_shows_the_unsatisfiable_signature(make_project) -> None:
    root = unsatisfiable_project(make_project)
    as_json = run("inspect", str(root), "--json")
    human = run("inspect", str(root))
    assert as_json.returncode == 1 and human.returncode == 1
    errors = {e["location"]: e for e in json.loads(as_json.stdout)["errors"]}
    assert errors["src/api/typo/[id]/route.py:3"]["type"] == "ResourceValidationError"
    assert errors["src/api/typo/[id]/route.py:3"]["message"].startswith(UNSATISFIABLE["typo"][3])
    assert "src/api/two/route.py:7: POST: parameters 'a' and 'b'" in human.stderr
    assert "Traceback" not in human.stderr


def test_boot_errors_through_the_programmatic_api(make_project) -> None:
    root = make_project({"src/api/x/route.py": "async def GET(request, limit: int, body: object):\n    return {}\n"})
    app = Application(root).boot()
    [error] = app.errors
    assert error.format().startswith("src/api/x/route.py:1: GET: parameter 'body' is annotated object")
    assert not app.registry.list("route")


def test_a_reload_that_changes_a_signature(make_project) -> None:
    root = make_project({"src/api/items/[id]/route.py": "async def GET(id: int):\n    return {'id': id}\n"})
    path = root / "src/api/items/[id]/route.py"
    uid = uuid.uuid4()

    def write(source: str) -> Path:
        path.write_text(textwrap.dedent(source).lstrip("\n"))
        return path

    async def scenario(http, app):
        seen = [(await http.get("/items/7")).json()]
        as_uuid = await app.reload([write("import uuid\n\nasync def GET(id: uuid.UUID):\n    return {'id': str(id)}\n")])
        seen += [(await http.get("/items/7")).status_code, (await http.get(f"/items/{uid}")).json()]
        broken = await app.reload([write("async def GET(id: int, extra):\n    return {}\n")])
        seen += [(await http.get(f"/items/{uid}")).json()]  # the previous version keeps serving
        fixed = await app.reload([write("async def GET(request, id: str):\n    return {'id': id, 'path': request.url.path}\n")])
        seen += [(await http.get("/items/7")).json()]
        return as_uuid, broken, fixed, seen

    as_uuid, broken, fixed, seen = serve(root, scenario)
    assert as_uuid.ok and fixed.ok
    assert seen[0] == {"id": 7}
    assert seen[1] == 400 and seen[2] == {"id": str(uid)}
    assert not broken.ok
    [error] = broken.errors
    assert error.location == "src/api/items/[id]/route.py:1"
    assert "parameter 'extra' is not a path parameter of /items/{id}" in error.message
    assert seen[3] == {"id": str(uid)}
    assert seen[4] == {"id": "7", "path": "/items/7"}


def test_parameters_with_defaults_loader_cannot_fill_keep_them(make_project) -> None:
    root = make_project({"src/api/opts/route.py": """
        def GET(request, verbose=False, settings: dict = {"a": 1}, *args, **kwargs):
            return {"verbose": verbose, "settings": settings, "args": list(args), "kwargs": kwargs}
    """})

    async def scenario(http, app):
        return (await http.get("/opts?verbose=1&settings=x")).json()

    assert serve(root, scenario) == {"verbose": False, "settings": {"a": 1}, "args": [], "kwargs": {}}


def test_a_query_model_takes_repeated_keys_and_leaves_scalar_parameters_alone(make_project) -> None:
    root = make_project({"src/api/find/route.py": """
        from pydantic import BaseModel, ConfigDict

        class Filters(BaseModel):
            model_config = ConfigDict(extra="forbid")
            tags: list[str] = []
            sort: str = "asc"

        async def GET(q: str, query: Filters):
            return {"q": q, "tags": query.tags, "sort": query.sort}
    """})

    async def scenario(http, app):
        return await http.get("/find?q=x&tags=a&tags=b&sort=desc"), await http.get("/find?q=x&other=1")

    ok, extra = serve(root, scenario)
    assert ok.json() == {"q": "x", "tags": ["a", "b"], "sort": "desc"}
    assert extra.status_code == 400 and extra.json()["message"] == "invalid query parameter 'other'"


def test_nan_and_infinity_are_refused_as_input(make_project) -> None:
    root = make_project({"src/api/measure/route.py": """
        from pydantic import BaseModel

        class Reading(BaseModel):
            value: float

        async def GET(x: float):
            return {"x": x}

        async def POST(reading: Reading):
            return {"value": reading.value}
    """})

    async def scenario(http, app):
        json_headers = {"content-type": "application/json"}
        return (
            await http.get("/measure?x=nan"),
            await http.get("/measure?x=-inf"),
            await http.get("/measure?x=1.5"),
            await http.post("/measure", content=b'{"value": NaN}', headers=json_headers),
            await http.post("/measure", content=b'{"value": -Infinity}', headers=json_headers),
            await http.post("/measure", content=b'{"value": -1e999}', headers=json_headers),
            await http.post("/measure", content=b'{"value": 2.5e3}', headers=json_headers),
        )

    nan, inf, fine, body_nan, body_inf, body_huge, body_fine = serve(root, scenario)
    for response in (nan, inf):
        assert response.status_code == 400 and response.json()["errors"][0]["type"] == "finite_number"
    assert fine.json() == {"x": 1.5}
    assert body_nan.status_code == 400 and body_nan.json() == {"error": "invalid_json", "message": "request body is not valid JSON: NaN is not a JSON value"}
    assert body_inf.status_code == 400 and "-Infinity is not a JSON value" in body_inf.json()["message"]
    assert body_huge.status_code == 400 and body_huge.json()["message"] == "request body is not valid JSON: number -1e999 is too large"
    assert body_fine.json() == {"value": 2500.0}


def test_a_pydantic_field_as_default_is_its_constraints_and_default(make_project) -> None:
    # `page: int = Field(1, ge=1)` passed the FieldInfo itself to the handler when the key was
    # missing (a 500), and ignored ge=1 when it was there.
    root = make_project({
        "src/api/pages/route.py": """
            from pydantic import Field

            async def GET(page: int = Field(1, ge=1), q: str = Field(..., max_length=3)):
                return {"page": page, "q": q}
        """,
    })

    async def scenario(http, app):
        return [await http.get(url) for url in ("/pages?q=a", "/pages?q=a&page=0", "/pages?q=abcd", "/pages", "/openapi.json")]

    default, too_small, too_long, missing, document = serve(root, scenario)
    assert (default.status_code, default.json()) == (200, {"page": 1, "q": "a"})
    assert too_small.status_code == 400 and too_small.json()["errors"][0]["type"] == "greater_than_equal"
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["type"] == "string_too_long"
    assert missing.status_code == 400 and missing.json()["errors"][0]["loc"] == ["q"]
    page = document.json()["paths"]["/pages"]["get"]["parameters"][0]
    assert page["name"] == "page" and not page["required"] and page["schema"]["minimum"] == 1


def test_a_mutable_default_is_fresh_for_each_request(make_project) -> None:
    # loader passes the default itself: what a handler appended to `tags` showed in the next
    # request's answer, another client's data.
    root = make_project({
        "src/api/tags/route.py": """
            from pydantic import BaseModel

            class Note(BaseModel):
                seen: list[str] = []

            def GET(tags: list[str] = []):
                tags.append("default")
                return tags

            async def POST(note: Note | None = Note()):
                note.seen.append("post")
                return note
        """,
    })

    async def scenario(http, app):
        return [(await http.get("/tags")).json() for _ in range(2)] + [(await http.post("/tags")).json() for _ in range(2)]

    assert serve(root, scenario) == [["default"], ["default"], {"seen": ["post"]}, {"seen": ["post"]}]
