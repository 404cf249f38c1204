"""HTTP through real ASGI calls (httpx): routing, validation, middlewares, errors."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.runtime.conftest import serve

from loader.runtime.http import build_route_table

ROUTE = "async def GET(request):\n    return {{'from': '{}'}}\n"


def test_json_and_response_handlers_path_params_and_health(make_project) -> None:
    root = make_project({
        "src/api/store/hello/route.py": "async def GET(request):\n    return {'message': 'hello'}\n",
        "src/api/store/posts/[id]/route.py": "async def GET(request):\n    return {'id': request.path_params['id']}\n",
        "src/api/raw/route.py": "from starlette.responses import PlainTextResponse\n\nasync def GET(request):\n    return PlainTextResponse('raw', status_code=201)\n",
        "src/api/sync/route.py": "def GET(request):\n    return ['sync']\n",
    })

    async def scenario(http, app):
        return [await http.get(p) for p in ("/store/hello", "/store/posts/42", "/raw", "/sync", "/health")]

    hello, post, raw, sync, health = serve(root, scenario)
    assert hello.json() == {"message": "hello"}
    assert post.json() == {"id": "42"}
    assert (raw.status_code, raw.text) == (201, "raw")
    assert sync.json() == ["sync"]
    assert health.json() == {"status": "ok"}


def test_a_handler_may_return_what_pydantic_serializes_models_in_a_list_dates_uuids(make_project) -> None:
    # The return annotation `-> list[Item]` is in the OpenAPI document: returning just that must not be a 500.
    root = make_project({
        "src/api/items/route.py": (
            "import datetime, uuid\nfrom pydantic import BaseModel\n\n"
            "class Item(BaseModel):\n    name: str\n\n"
            "async def GET(request) -> list[Item]:\n    return [Item(name='a'), Item(name='b')]\n\n"
            "def POST(request):\n"
            "    return {'on': datetime.date(2026, 1, 2), 'id': uuid.UUID(int=1), 'item': Item(name='c')}\n"
        ),
    })

    async def scenario(http, app):
        return await http.get("/items"), await http.post("/items")

    listed, mixed = serve(root, scenario)
    assert (listed.status_code, listed.json()) == (200, [{"name": "a"}, {"name": "b"}])
    assert mixed.status_code == 200, mixed.text
    assert mixed.json() == {"on": "2026-01-02", "id": "00000000-0000-0000-0000-000000000001", "item": {"name": "c"}}


def test_an_async_handler_under_a_plain_def_decorator_is_awaited(make_project) -> None:
    # functools.wraps around ``async def``: the wrapper is a plain function returning a coroutine.
    root = make_project({
        "src/api/items/[n]/route.py": """
            import functools

            def logged(fn):
                @functools.wraps(fn)
                def wrapper(*args, **kwargs):
                    return fn(*args, **kwargs)
                return wrapper

            @logged
            async def GET(request):
                return {"n": request.path_params["n"]}

            @logged
            async def PUT(n: int):
                return {"n": n}
        """,
    })

    async def scenario(http, app):
        return await http.get("/items/3"), await http.put("/items/4")

    plain, typed = serve(root, scenario)
    assert (plain.status_code, plain.json()) == (200, {"n": "3"})
    assert (typed.status_code, typed.json()) == (200, {"n": 4})


def test_static_segment_beats_a_parameter_whatever_the_root_order(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\nconfig = define_config(plugins=['./extra'])\n",
        # the plugin root loads before src/: its parameter route must not shadow the static one
        "extra/__init__.py": "",
        "extra/api/items/[id]/route.py": ROUTE.format("plugin-param"),
        "src/api/items/special/route.py": ROUTE.format("project-static"),
        "src/api/things/[id]/route.py": ROUTE.format("project-param"),
        "extra/api/things/new/route.py": ROUTE.format("plugin-static"),
    })

    async def scenario(http, app):
        return [(await http.get(p)).json()["from"] for p in ("/items/special", "/items/7", "/things/new", "/things/7")]

    assert serve(root, scenario) == ["project-static", "plugin-param", "plugin-static", "project-param"]


def test_body_and_query_models_are_validated_before_the_handler(make_project) -> None:
    root = make_project({
        "src/api/posts/route.py": """
            from pydantic import BaseModel

            class NewPost(BaseModel):
                title: str
                price_cents: int = 0

            class Page(BaseModel):
                limit: int = 10

            async def POST(request, body: NewPost):
                return {"title": body.title, "price_cents": body.price_cents}

            async def GET(request, query: Page):
                return {"limit": query.limit}
        """,
    })

    async def scenario(http, app):
        return (
            await http.post("/posts", json={"title": "t", "price_cents": 5}),
            await http.post("/posts", json={"price_cents": "many"}),
            await http.post("/posts", content=b"{not json", headers={"content-type": "application/json"}),
            await http.get("/posts?limit=3"),
            await http.get("/posts?limit=x"),
        )

    ok, invalid, malformed, query_ok, query_bad = serve(root, scenario)
    assert ok.json() == {"title": "t", "price_cents": 5}
    assert invalid.status_code == 400 and invalid.json()["error"] == "validation_error"
    assert {tuple(e["loc"]) for e in invalid.json()["errors"]} == {("title",), ("price_cents",)}
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_json"
    assert query_ok.json() == {"limit": 3}
    assert query_bad.status_code == 400 and query_bad.json()["errors"][0]["loc"] == ["limit"]


def test_unknown_path_and_wrong_method_are_json(make_project) -> None:
    root = make_project({"src/api/only-get/route.py": ROUTE.format("x")})

    async def scenario(http, app):
        return await http.get("/nope"), await http.delete("/only-get")

    missing, wrong = serve(root, scenario)
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "message": "no route for GET /nope"}
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert wrong.json()["allowed"] == ["GET", "HEAD", "OPTIONS"]  # OPTIONS is answered at every route
    assert wrong.headers["allow"] == "GET, HEAD, OPTIONS"


def test_handler_exception_is_a_500_with_a_request_id_logged_with_path_line(make_project, caplog) -> None:
    root = make_project({"src/api/boom/route.py": "async def GET(request):\n    raise RuntimeError('kaput')\n"})

    async def scenario(http, app):
        return await http.get("/boom")

    with caplog.at_level(logging.ERROR, logger="loader.http"):
        response = serve(root, scenario)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error" and len(body["request_id"]) == 16
    assert f"GET /boom failed in the handler at src/api/boom/route.py:1 (request id {body['request_id']})" in caplog.text


RAISING = """
    from starlette.exceptions import HTTPException

    async def GET(request):
        raise HTTPException(404, "no post 7")

    async def PUT(request):
        raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})

    async def PATCH(request):
        raise HTTPException(409, detail={"field": "slug", "taken": True})

    async def DELETE(request):
        raise HTTPException(304)

    async def POST(request):
        raise RuntimeError("UPDATE posts SET title = 'secret' WHERE id = 7 /srv/app/db.py")
"""
MIDDLEWARES = """
    from loader import MiddlewareRoute, define_middlewares
    from starlette.exceptions import HTTPException

    async def guard(request, call_next):
        if request.headers.get("x-deny"):
            raise HTTPException(403, "denied by the guard")
        return await call_next(request)

    middlewares = define_middlewares([MiddlewareRoute(matcher="/guarded/*", middlewares=[guard])])
"""


@pytest.mark.parametrize("with_middlewares", [False, True], ids=["no-middlewares", "middlewares"])
def test_http_exceptions_keep_their_status_detail_and_headers_with_or_without_middlewares(make_project, with_middlewares: bool) -> None:
    files = {"src/api/posts/route.py": RAISING, "src/api/guarded/x/route.py": ROUTE.format("x")}
    if with_middlewares:
        files["src/api/middlewares.py"] = MIDDLEWARES
    root = make_project(files)

    async def scenario(http, app):
        return [await http.request(m, "/posts") for m in ("GET", "PUT", "PATCH", "DELETE", "POST")]

    missing, unauthorized, conflict, not_modified, failed = serve(root, scenario)
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "message": "no post 7"}
    assert unauthorized.status_code == 401 and unauthorized.headers["www-authenticate"] == "Bearer"
    assert unauthorized.json() == {"error": "unauthorized", "message": "sign in first"}
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "conflict", "message": "Conflict", "detail": {"field": "slug", "taken": True}}
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert failed.status_code == 500 and set(failed.json()) == {"error", "message", "request_id"}
    assert "secret" not in failed.text and "posts" not in failed.text and "/srv" not in failed.text


def test_a_middleware_that_returns_no_response_is_a_500_naming_it(make_project, caplog) -> None:
    # Without the check the server itself failed sending None: a traceback naming no project file.
    root = make_project({
        "src/api/middlewares.py": """
            from loader import MiddlewareRoute, define_middlewares

            async def forgot_return(request, call_next):
                await call_next(request)

            middlewares = define_middlewares([MiddlewareRoute(matcher="/*", middlewares=[forgot_return])])
        """,
        "src/api/x/route.py": ROUTE.format("x"),
    })

    async def scenario(http, app):
        return await http.get("/x"), await http.get("/nowhere")

    with caplog.at_level(logging.ERROR, logger="loader.http"):
        found, missing = serve(root, scenario)
    assert found.status_code == missing.status_code == 500
    assert set(found.json()) == {"error", "message", "request_id"}
    assert "the middleware forgot_return at src/api/middlewares.py:3 returned None, not a Response" in caplog.text


@pytest.mark.parametrize("with_middlewares", [False, True], ids=["no-middlewares", "middlewares"])
def test_a_websocket_request_is_closed_not_a_crash(make_project, with_middlewares: bool) -> None:
    # With `websockets` installed uvicorn hands upgrades to the app; loader serves none. With
    # middlewares the 404 path read scope["method"], which a websocket scope lacks: a KeyError.
    files = {"src/api/x/route.py": ROUTE.format("x")}
    if with_middlewares:
        files["src/api/middlewares.py"] = MIDDLEWARES
    root = make_project(files)

    async def scenario(http, app):
        sent: list[dict] = []

        async def receive():
            return {"type": "websocket.connect"}

        async def send(message):
            sent.append(message)

        for path in ("/x", "/guarded/x", "/nowhere"):
            scope = {"type": "websocket", "path": path, "raw_path": path.encode(), "query_string": b"", "headers": [],
                     "scheme": "ws", "server": ("testserver", 80), "client": ("127.0.0.1", 1), "root_path": "",
                     "subprotocols": [], "asgi": {"version": "3.0"}}
            await app.asgi(scope, receive, send)
        return sent

    assert [m["type"] for m in serve(root, scenario)] == ["websocket.close"] * 3


def test_a_middleware_raising_an_http_exception_answers_with_its_status(make_project) -> None:
    root = make_project({"src/api/middlewares.py": MIDDLEWARES, "src/api/guarded/x/route.py": ROUTE.format("x")})

    async def scenario(http, app):
        return await http.get("/guarded/x", headers={"x-deny": "1"}), await http.get("/guarded/x")

    denied, allowed = serve(root, scenario)
    assert denied.status_code == 403 and denied.json() == {"error": "forbidden", "message": "denied by the guard"}
    assert allowed.status_code == 200


@pytest.mark.parametrize(("sent", "kept"), [
    ("req-42.a:b_C", True),
    ("x" * 64, True),
    ("x" * 65, False),
    ("<script>alert(1)</script>", False),
    ("id with spaces", False),
    ("", False),
])
def test_a_client_request_id_is_echoed_only_when_short_and_plain(make_project, caplog, sent: str, kept: bool) -> None:
    root = make_project({"src/api/boom/route.py": "async def GET(request):\n    raise RuntimeError('kaput')\n"})

    async def scenario(http, app):
        return await http.get("/boom", headers={"x-request-id": sent} if sent else {})

    with caplog.at_level(logging.ERROR, logger="loader.http"):
        response = serve(root, scenario)
    given = response.json()["request_id"]
    assert (given == sent) is kept
    if not kept:
        assert len(given) == 16 and given.isalnum() and (not sent or sent not in caplog.text)
    assert f"(request id {given})" in caplog.text


def test_middlewares_apply_to_the_routes_and_methods_they_match(make_project) -> None:
    root = make_project({
        "src/api/middlewares.py": """
            from loader import MiddlewareRoute, define_middlewares

            async def tag(request, call_next):
                response = await call_next(request)
                response.headers["x-tag"] = "store"
                return response

            async def only_posts(request, call_next):
                response = await call_next(request)
                response.headers["x-post"] = "yes"
                return response

            middlewares = define_middlewares([
                MiddlewareRoute(matcher="/store/*", middlewares=[tag]),
                MiddlewareRoute(matcher="/store/*", methods=["POST"], middlewares=[only_posts]),
            ])
        """,
        "src/api/store/a/route.py": "async def GET(request):\n    return {}\n\nasync def POST(request):\n    return {}\n",
        "src/api/admin/route.py": "async def GET(request):\n    return {}\n",
    })

    async def scenario(http, app):
        return await http.get("/store/a"), await http.post("/store/a"), await http.get("/admin")

    get, post, admin = serve(root, scenario)
    assert get.headers.get("x-tag") == "store" and "x-post" not in get.headers
    assert post.headers.get("x-tag") == "store" and post.headers.get("x-post") == "yes"
    assert "x-tag" not in admin.headers


def test_handlers_reach_the_container_from_the_request(make_project) -> None:
    root = make_project({
        "src/modules/blog/__init__.py": "from loader import Module\n\nclass Blog:\n    def title(self):\n        return 'from service'\n\nmodule = Module('blog', service=Blog)\n",
        "src/api/title/route.py": "async def GET(request):\n    return {'title': request.app.state.container.resolve('blog').title()}\n",
    })

    async def scenario(http, app):
        return (await http.get("/title")).json()

    assert serve(root, scenario) == {"title": "from service"}


def test_a_request_in_flight_finishes_on_the_table_it_started_with(make_project) -> None:
    root = make_project({
        "src/api/slow/route.py": """
            import asyncio
            GATE = asyncio.Event()

            async def GET(request):
                await GATE.wait()
                return {"version": "old"}
        """,
    })

    async def scenario(http, app):
        [resource] = app.registry.list("route")
        in_flight = asyncio.create_task(http.get("/slow"))
        await asyncio.sleep(0.05)

        async def new_handler(request):
            return {"version": "new"}

        import dataclasses

        app.asgi.swap(build_route_table([dataclasses.replace(resource, obj=new_handler)], [], 99))
        fresh = await http.get("/slow")
        resource.obj.__globals__["GATE"].set()
        return (await in_flight).json(), fresh.json()

    assert serve(root, scenario) == ({"version": "old"}, {"version": "new"})


def test_every_route_serves_after_a_boot_and_after_large_changes(make_project) -> None:
    # 40 routes: more than the route table edits one by one, so the boot, a reload of all of
    # them and a deletion of most of them go through its rebuild-and-sort path.
    from tests.runtime.test_reload import write

    root = make_project({f"src/api/r{i:02d}/route.py": ROUTE.format(f"v1-{i}") for i in range(40)})

    async def answers(http) -> dict[str, object]:
        found: dict[str, object] = {}
        for i in range(40):
            response = await http.get(f"/r{i:02d}")
            found[f"/r{i:02d}"] = response.json() if response.status_code == 200 else response.status_code
        return found

    async def scenario(http, app):
        booted = await answers(http)
        paths = [write(root, f"src/api/r{i:02d}/route.py", ROUTE.format(f"v2-{i}")) for i in range(40)]
        edited = await app.reload(paths)
        after_edit = await answers(http)
        for i in range(5, 40):
            (root / f"src/api/r{i:02d}/route.py").unlink()
        deleted = await app.reload(paths[5:])
        after_delete = await answers(http)
        return booted, edited.ok, after_edit, deleted.ok, after_delete, (await http.get("/health")).status_code

    booted, edited, after_edit, deleted, after_delete, health = serve(root, scenario)
    assert booted == {f"/r{i:02d}": {"from": f"v1-{i}"} for i in range(40)}
    assert edited and after_edit == {f"/r{i:02d}": {"from": f"v2-{i}"} for i in range(40)}
    assert deleted and after_delete == {f"/r{i:02d}": {"from": f"v2-{i}"} if i < 5 else 404 for i in range(40)}
    assert health == 200


def test_an_object_with_an_async_call_is_an_async_handler(make_project) -> None:
    root = make_project({
        "src/api/items/[n]/route.py": """
            class Handler:
                async def __call__(self, request):
                    return {"n": request.path_params["n"]}

            GET = Handler()
        """,
    })

    async def scenario(http, app):
        return await http.get("/items/3")

    response = serve(root, scenario)
    assert (response.status_code, response.json()) == (200, {"n": "3"})
