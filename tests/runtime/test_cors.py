"""CORS (``project.http.cors``), OPTIONS, ``Allow`` and middlewares on 404/405, over real ASGI HTTP."""

from __future__ import annotations

import pytest

from tests.runtime.conftest import serve

from loader import ConfigError, load_project

SHOP = "https://shop.example.com"
EVIL = "https://evil.example.net"

POSTS = {
    "src/api/store/posts/route.py": "async def GET(request):\n    return []\n\nasync def POST(request):\n    return {}\n",
    "src/api/store/posts/new/route.py": "async def GET(request):\n    return {'form': 'new'}\n",
    "src/api/store/posts/[id]/route.py": (
        "async def GET(request):\n    return {'id': request.path_params['id']}\n\n"
        "async def DELETE(request):\n    return {'deleted': request.path_params['id']}\n"
    ),
}

TAG_STORE = """
    from loader import MiddlewareRoute, define_middlewares

    async def tag(request, call_next):
        response = await call_next(request)
        response.headers["x-tag"] = "store"
        return response

    async def only_delete(request, call_next):
        response = await call_next(request)
        response.headers["x-delete"] = "yes"
        return response

    middlewares = define_middlewares([
        MiddlewareRoute(matcher="/store/*", middlewares=[tag]),
        MiddlewareRoute(matcher="/store/*", methods=["DELETE"], middlewares=[only_delete]),
        MiddlewareRoute(matcher="/health", middlewares=[tag]),
    ])
"""


def cors_project(make_project, cors: str, files: dict[str, str] | None = None):
    return make_project({
        "loader_config.py": f"from loader import define_config\n\nconfig = define_config(project={{'http': {{'cors': {cors}}}}})\n",
        **POSTS,
        **(files or {}),
    })


def preflight(origin: str, method: str = "DELETE", headers: str | None = None) -> dict[str, str]:
    sent = {"origin": origin, "access-control-request-method": method}
    if headers:
        sent["access-control-request-headers"] = headers
    return sent


# -- CORS on ------------------------------------------------------------------------------------

def test_preflight_from_an_allowed_origin_is_answered_and_a_denied_one_refused(make_project) -> None:
    root = cors_project(make_project, f"{{'allow_origins': [{SHOP!r}], 'allow_headers': ['authorization'], 'max_age': 120}}")

    async def scenario(http, app):
        return (
            await http.options("/store/posts/7", headers=preflight(SHOP, "DELETE", "authorization, content-type")),
            await http.options("/store/posts/7", headers=preflight(EVIL)),
            await http.options("/store/posts/7", headers=preflight(SHOP, "DELETE", "x-secret")),
        )

    allowed, other_site, odd_header = serve(root, scenario)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SHOP
    assert "DELETE" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert allowed.headers["access-control-max-age"] == "120"
    assert "access-control-allow-credentials" not in allowed.headers
    assert other_site.status_code == 400 and "access-control-allow-origin" not in other_site.headers
    assert odd_header.status_code == 400 and "headers" in odd_header.text


def test_simple_requests_get_the_cors_headers_on_every_status(make_project) -> None:
    root = cors_project(make_project, f"{{'allow_origins': [{SHOP!r}], 'expose_headers': ['x-request-id']}}")

    async def scenario(http, app):
        return (
            await http.get("/store/posts/new", headers={"origin": SHOP}),
            await http.get("/nope", headers={"origin": SHOP}),
            await http.put("/store/posts/new", headers={"origin": SHOP}),
            await http.get("/store/posts/new", headers={"origin": EVIL}),
            await http.get("/store/posts/new"),
        )

    ok, missing, refused, other_site, same_site = serve(root, scenario)
    for response in (ok, missing, refused):
        assert response.headers["access-control-allow-origin"] == SHOP, response.status_code
        assert response.headers["access-control-expose-headers"] == "x-request-id"
        assert "Origin" in response.headers["vary"]
    assert (ok.status_code, missing.status_code, refused.status_code) == (200, 404, 405)
    # The server still answers the other site (the browser withholds it): no allow-origin header.
    assert other_site.status_code == 200 and "access-control-allow-origin" not in other_site.headers
    assert same_site.json() == {"form": "new"} and "access-control-allow-origin" not in same_site.headers


def test_credentials_echo_the_origin_never_a_wildcard(make_project) -> None:
    root = cors_project(make_project, f"{{'allow_origins': [{SHOP!r}], 'allow_credentials': True}}")

    async def scenario(http, app):
        return (
            await http.options("/store/posts", headers=preflight(SHOP, "POST", "content-type")),
            await http.get("/store/posts", headers={"origin": SHOP, "cookie": "session=1"}),
        )

    pre, simple = serve(root, scenario)
    for response in (pre, simple):
        assert response.headers["access-control-allow-origin"] == SHOP
        assert response.headers["access-control-allow-credentials"] == "true"


def test_every_origin_without_credentials_answers_a_wildcard(make_project) -> None:
    root = cors_project(make_project, "{'allow_origins': ['*']}")

    async def scenario(http, app):
        return await http.get("/store/posts", headers={"origin": EVIL})

    assert serve(root, scenario).headers["access-control-allow-origin"] == "*"


def test_an_origin_regex_allows_the_origins_it_matches_in_full(make_project) -> None:
    root = cors_project(make_project, r"{'allow_origin_regex': r'https://[a-z0-9-]+\.preview\.example\.com'}")

    async def scenario(http, app):
        return (
            await http.get("/store/posts", headers={"origin": "https://pr-12.preview.example.com"}),
            await http.get("/store/posts", headers={"origin": "https://pr-12.preview.example.com.evil.net"}),
        )

    matched, suffixed = serve(root, scenario)
    assert matched.headers["access-control-allow-origin"] == "https://pr-12.preview.example.com"
    assert "access-control-allow-origin" not in suffixed.headers


def test_cors_off_by_default_no_headers_and_options_answered_by_loader(make_project) -> None:
    root = make_project(POSTS)

    async def scenario(http, app):
        return (
            await http.get("/store/posts", headers={"origin": SHOP}),
            await http.options("/store/posts", headers=preflight(SHOP, "POST")),
        )

    simple, pre = serve(root, scenario)
    assert not any(name.startswith("access-control-") for name in simple.headers)
    assert pre.status_code == 204 and not any(name.startswith("access-control-") for name in pre.headers)


# -- OPTIONS and Allow --------------------------------------------------------------------------

def test_options_is_a_204_listing_every_verb_served_at_the_url(make_project) -> None:
    root = make_project(POSTS)

    async def scenario(http, app):
        return [await http.options(path) for path in ("/store/posts", "/store/posts/new", "/store/posts/7", "/health", "/nope")]

    posts, new, one, health, nope = serve(root, scenario)
    assert posts.status_code == 204 and posts.content == b""
    assert posts.headers["allow"] == "GET, POST, HEAD, OPTIONS"
    # /store/posts/new has GET only, but Starlette serves a DELETE there with /store/posts/{id}
    assert new.headers["allow"] == "GET, DELETE, HEAD, OPTIONS"
    assert one.headers["allow"] == "GET, DELETE, HEAD, OPTIONS"
    assert health.headers["allow"] == "GET, HEAD, OPTIONS"
    assert nope.status_code == 404 and "allow" not in nope.headers  # nothing is served there


def test_allow_of_a_405_names_the_verbs_of_sibling_parameter_routes_and_they_are_served(make_project) -> None:
    root = make_project(POSTS)

    async def scenario(http, app):
        return (
            await http.post("/store/posts/new"),
            await http.delete("/store/posts/new"),
            await http.put("/store/posts"),
        )

    refused, deleted, put = serve(root, scenario)
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, DELETE, HEAD, OPTIONS"
    assert refused.json()["allowed"] == ["GET", "DELETE", "HEAD", "OPTIONS"]
    # what Allow promises is true: the DELETE is served (by the [id] route)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "new"}
    assert put.status_code == 405 and put.headers["allow"] == "GET, POST, HEAD, OPTIONS"


def test_a_route_file_that_defines_options_answers_it_itself(make_project) -> None:
    root = make_project({
        "src/api/custom/route.py": (
            "from starlette.responses import Response\n\n"
            "async def GET(request):\n    return {}\n\n"
            "async def OPTIONS(request):\n    return Response(status_code=200, headers={'allow': 'GET', 'x-own': '1'})\n"
        ),
    })

    async def scenario(http, app):
        return await http.options("/custom")

    own = serve(root, scenario)
    assert own.status_code == 200 and own.headers["x-own"] == "1" and own.headers["allow"] == "GET"


def test_options_and_405_follow_a_reload(make_project) -> None:
    root = make_project(POSTS)

    async def scenario(http, app):
        before = await http.options("/store/posts/new")
        (root / "src/api/store/posts/[id]/route.py").write_text("async def PATCH(request):\n    return {}\n")
        report = await app.reload([root / "src/api/store/posts/[id]/route.py"])
        assert report.ok, report.to_dict()
        return before, await http.options("/store/posts/new"), await http.post("/store/posts/new")

    before, after, refused = serve(root, scenario)
    assert before.headers["allow"] == "GET, DELETE, HEAD, OPTIONS"
    assert after.headers["allow"] == "GET, PATCH, HEAD, OPTIONS"
    assert refused.headers["allow"] == "GET, PATCH, HEAD, OPTIONS"


# -- middlewares on what no route answers -------------------------------------------------------

def test_middlewares_run_on_404_405_options_and_health_their_matcher_covers(make_project) -> None:
    root = make_project({
        **POSTS,
        "src/api/middlewares.py": TAG_STORE,
        "src/api/admin/route.py": "async def GET(request):\n    return {}\n",
    })

    async def scenario(http, app):
        return {
            "404": await http.get("/store/nope"),
            "405": await http.put("/store/posts/new"),
            "options": await http.options("/store/posts"),
            "delete 404": await http.delete("/store/nope"),
            "outside 404": await http.get("/nope"),
            "outside 405": await http.post("/admin"),
            "served": await http.get("/store/posts"),
            "health": await http.get("/health"),
        }

    got = serve(root, scenario)
    for name in ("404", "405", "options", "delete 404", "served", "health"):
        assert got[name].headers.get("x-tag") == "store", name
    assert got["404"].status_code == 404 and got["404"].json()["error"] == "not_found"
    assert got["405"].status_code == 405 and got["options"].status_code == 204
    assert got["delete 404"].headers.get("x-delete") == "yes"  # methods=["DELETE"] is honoured
    assert "x-delete" not in got["404"].headers
    assert "x-tag" not in got["outside 404"].headers and "x-tag" not in got["outside 405"].headers


def test_a_middleware_can_answer_a_404_itself_and_one_that_raises_is_a_500(make_project) -> None:
    root = make_project({
        **POSTS,
        "src/api/middlewares.py": """
            from starlette.responses import JSONResponse
            from loader import MiddlewareRoute, define_middlewares

            async def gate(request, call_next):
                if request.headers.get("x-key") != "ok":
                    return JSONResponse({"error": "unauthorized"}, status_code=401)
                return await call_next(request)

            async def broken(request, call_next):
                raise RuntimeError("boom")

            middlewares = define_middlewares([
                MiddlewareRoute(matcher="/store/*", middlewares=[gate]),
                MiddlewareRoute(matcher="/broken/*", middlewares=[broken]),
            ])
        """,
    })

    async def scenario(http, app):
        return (
            await http.get("/store/nope"),
            await http.get("/store/nope", headers={"x-key": "ok"}),
            await http.get("/broken/nope"),
        )

    gated, passed, broken = serve(root, scenario)
    assert gated.status_code == 401  # an auth middleware answers before the 404 says what exists
    assert passed.status_code == 404
    assert broken.status_code == 500 and broken.json()["error"] == "internal_error" and "boom" not in broken.text


def test_middlewares_see_a_413_refused_before_the_body_is_read(make_project) -> None:
    root = make_project({
        "loader_config.py": "from loader import define_config\n\nconfig = define_config(project={'http': {'max_body_size': 10}})\n",
        **POSTS,
        "src/api/middlewares.py": TAG_STORE,
    })

    async def scenario(http, app):
        return await http.post("/store/posts", content=b"x" * 100, headers={"content-type": "application/json"})

    too_large = serve(root, scenario)
    assert too_large.status_code == 413 and too_large.headers.get("x-tag") == "store"


def test_with_cors_and_middlewares_a_404_carries_both(make_project) -> None:
    root = cors_project(make_project, f"{{'allow_origins': [{SHOP!r}]}}", {"src/api/middlewares.py": TAG_STORE})

    async def scenario(http, app):
        return await http.get("/store/nope", headers={"origin": SHOP})

    missing = serve(root, scenario)
    assert missing.status_code == 404
    assert missing.headers["x-tag"] == "store" and missing.headers["access-control-allow-origin"] == SHOP


# -- bad config ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("cors", "field", "shown", "expected"), [
    ("{'allow_origins': ['*'], 'allow_credentials': True}", "allow_credentials", "True", "false when allow_origins is ['*']"),
    ("{'allow_origins': ['https://shop.example.com/']}", "allow_origins.0", "'https://shop.example.com/'", "no trailing slash"),
    ("{'allow_origins': ['shop.example.com']}", "allow_origins.0", "'shop.example.com'", "scheme://host[:port]"),
    ("{'allow_origins': ['https://shop.example.com:443']}", "allow_origins.0", "'https://shop.example.com:443'", "no default port"),
    ("{'allow_origins': ['https://shop.example.com:99999']}", "allow_origins.0", "'https://shop.example.com:99999'", "scheme://host[:port]"),
    ("{'allow_origins': ['https://shop.example.com/app']}", "allow_origins.0", "'https://shop.example.com/app'", "no path"),
    ("{'allow_origins': ['null']}", "allow_origins.0", "'null'", "sandboxed frames"),
    ("{'allow_origins': ['*', 'https://shop.example.com']}", "allow_origins", "['*', 'https://shop.example.com']", "not both"),
    ("{'allow_origins': 'https://shop.example.com'}", "allow_origins", "'https://shop.example.com'", "valid list"),
    ("{'allow_origins': []}", "cors", "{'allow_origins': []}", "at least one origin"),
    ("{'allow_origins': ['https://a.example'], 'allow_methods': ['FETCH']}", "allow_methods.0", "'FETCH'", "one of get, post"),
    ("{'allow_origins': ['https://a.example'], 'allow_headers': ['x y']}", "allow_headers.0", "'x y'", "a header name"),
    ("{'allow_origins': ['https://a.example'], 'expose_headers': ['*'], 'allow_credentials': True}", "expose_headers", "['*']", "header names, not '*'"),
    ("{'allow_origin_regex': '.*', 'allow_credentials': True}", "allow_credentials", "True", "matches any origin"),
    ("{'allow_origin_regex': '(unclosed'}", "allow_origin_regex", "'(unclosed'", "a regular expression"),
    ("{'allow_origins': ['https://a.example'], 'max_age': -1}", "max_age", "-1", "greater than or equal to 0"),
    ("{'allow_origins': ['https://a.example'], 'max_age': '600'}", "max_age", "'600'", "valid integer"),
    ("{'allow_origins': ['https://a.example'], 'allow_credentials': 'yes'}", "allow_credentials", "'yes'", "valid boolean"),
    ("{'allow_origins': ['https://a.example'], 'origins': []}", None, None, "unknown key 'origins' in project.http.cors"),
    ("True", "cors", "True", "valid dictionary"),
])
def test_bad_cors_values_are_config_errors_naming_file_field_and_value(
    make_project, cors: str, field: str | None, shown: str | None, expected: str,
) -> None:
    root = make_project({
        "loader_config.py": f"""
            from loader import define_config

            config = define_config(
                project={{"http": {{"cors": {cors}}}}},
            )
        """,
    })
    with pytest.raises(ConfigError) as info:
        load_project(root)
    assert info.value.path == "loader_config.py" and info.value.line == 4
    if field is not None:
        assert f"config field project.http.cors{'.' + field if field != 'cors' else ''}: got {shown}; expected" in info.value.message
    assert expected in info.value.message


def test_good_cors_values_are_normalised_as_a_browser_sends_them() -> None:
    from loader import define_config

    cors = define_config(project={"http": {"cors": {
        "allow_origins": ["HTTPS://Shop.Example.com", "http://localhost:3000", "capacitor://localhost", "http://[::1]:8080"],
        "allow_methods": ["get", "Post"],
    }}}).project.http.cors
    assert cors is not None
    assert cors.allow_origins == ["https://shop.example.com", "http://localhost:3000", "capacitor://localhost", "http://[::1]:8080"]
    assert cors.allow_methods == ["GET", "POST"]
