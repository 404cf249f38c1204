"""Folder and file names a user can make that are not Python identifiers: dots (``v1.0``),
dashes, spaces, leading digits. They load, serve, reload, and their errors name the user's file."""

from __future__ import annotations

from loader import ResourceImportError, load_project
from tests.runtime.conftest import serve
from tests.runtime.test_reload import HELLO, write

JOB = "from loader import job\n\n@job(name={!r}, schedule=60)\nasync def tick(container):\n    pass\n"
ODD = {
    "src/api/v1.0/ping/route.py": "from .helper import WORD\n\nasync def GET(request):\n    return {'ping': WORD}\n",
    "src/api/v1.0/ping/helper.py": "WORD = 'pong'\n",
    "src/api/a.b.c/route.py": HELLO.format("abc"),
    "src/api/my-thing/route.py": HELLO.format("dash"),
    "src/api/2fa/route.py": HELLO.format("digit"),
    "src/jobs/my.job.py": JOB.format("dotted"),
    "src/jobs/2 spaced-job.py": JOB.format("spaced"),
    "src/jobs/v1%2E0.py": JOB.format("percent"),  # spelled like v1.0 encoded: still its own module
    "src/jobs/v1.0.py": JOB.format("v1.0"),
}


def test_odd_folder_and_file_names_load_and_serve(make_project) -> None:
    root = make_project(ODD)

    async def scenario(http, app):
        return [(await http.get(path)).json() for path in ("/v1.0/ping", "/a.b.c", "/my-thing", "/2fa")]

    project = load_project(root)
    assert project.errors == []
    assert sorted(r.id for r in project.registry.list("job")) == ["dotted", "percent", "spaced", "v1.0"]
    assert serve(root, scenario) == [{"ping": "pong"}, {"message": "abc"}, {"message": "dash"}, {"message": "digit"}]


def test_odd_names_reload_in_place(make_project) -> None:
    root = make_project(ODD)

    async def scenario(http, app):
        edited = await app.reload([write(root, "src/api/v1.0/ping/helper.py", "WORD = 'pong v2'\n")])
        ping = (await http.get("/v1.0/ping")).json()
        added = await app.reload([write(root, "src/api/v2.0/new.er/route.py", HELLO.format("new"))])
        new = (await http.get("/v2.0/new.er")).json()
        dash = await app.reload([write(root, "src/api/my-thing/route.py", HELLO.format("dash v2"))])
        return edited, ping, added, new, dash, (await http.get("/my-thing")).json()

    edited, ping, added, new, dash, thing = serve(root, scenario)
    assert edited.ok and edited.reloaded == {"route": ["GET /v1.0/ping"]} and ping == {"ping": "pong v2"}
    assert added.ok and added.loaded == {"route": ["GET /v2.0/new.er"]} and new == {"message": "new"}
    assert dash.ok and thing == {"message": "dash v2"}


def test_an_error_in_an_odd_folder_names_the_users_file_and_line(make_project) -> None:
    root = make_project({
        "src/api/ok/route.py": HELLO.format("ok"),
        "src/api/v1.0/boom/route.py": "X = 1\nraise RuntimeError('boom')\n",
    })
    project = load_project(root)
    [error] = project.errors
    assert isinstance(error, ResourceImportError)
    assert error.format().startswith("src/api/v1.0/boom/route.py:2: RuntimeError: boom")
    assert [r.id for r in project.registry.list("route")] == ["GET /ok"]

    async def scenario(http, app):
        fixed = await app.reload([write(root, "src/api/v1.0/boom/route.py", HELLO.format("fixed"))])
        served = (await http.get("/v1.0/boom")).json()
        broken = await app.reload([write(root, "src/api/v1.0/boom/route.py", "async def GET(request):\n    return 1\nnope(\n")])
        return fixed, served, broken, (await http.get("/v1.0/boom")).json()

    fixed, served, broken, kept = serve(root, scenario)
    assert fixed.ok and served == {"message": "fixed"}
    assert not broken.ok and [e.location for e in broken.errors] == ["src/api/v1.0/boom/route.py:3"]
    assert kept == {"message": "fixed"}
