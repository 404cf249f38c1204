"""The sample project served over real ASGI: every endpoint its README lists."""

from __future__ import annotations

import logging

from tests.runtime.conftest import serve

from loader import load_project
from loader.db import migrate
from loader.runtime.application import Application


def test_sample_project_endpoints(sample_project, caplog) -> None:
    # as the README says: migrate (which also runs the seed data script), then serve
    migrate(load_project(sample_project), container=lambda: Application(sample_project).boot().container, echo=lambda line: None)

    async def scenario(http, app):
        hello = await http.get("/store/hello")
        created = await http.post("/store/posts", json={"title": "First", "price_cents": 1999})
        invalid = await http.post("/store/posts", json={"title": "", "price_cents": -1})
        post_id = created.json()["post"]["id"]
        one = await http.get(f"/store/posts/{post_id}")
        missing = await http.get("/store/posts/999")
        not_a_number = await http.get("/store/posts/abc")
        listed = await http.get("/store/posts")
        greeting = await http.get("/greetings")
        custom = await http.get("/store/custom")
        await app.event_bus.drain()
        return hello, created, invalid, one, missing, not_a_number, listed, greeting, custom

    with caplog.at_level(logging.INFO):
        hello, created, invalid, one, missing, not_a_number, listed, greeting, custom = serve(sample_project, scenario)
    assert hello.json() == {"message": "hello"} and hello.headers["x-powered-by"] == "loader"
    assert created.status_code == 201 and created.json()["post"]["title"] == "First"
    assert invalid.status_code == 400 and {e["loc"][0] for e in invalid.json()["errors"]} == {"title", "price_cents"}
    assert one.json()["price"] == "19.99 EUR" and one.json()["comments"] == []  # blog_comments is on in config
    assert missing.status_code == 404 and missing.json() == {"error": "not_found", "message": "no post 999"}
    assert not_a_number.status_code == 400 and not_a_number.json()["message"] == "invalid path parameter 'id'"
    assert [p["title"] for p in listed.json()["posts"]] == ["Welcome", "First"]  # the seed script ran once
    assert greeting.status_code == 200 and "greeting" in greeting.json()
    assert custom.status_code == 404  # custom_feature is off: the route is not served
    assert "new post 2: First" in caplog.text  # the post.created subscriber ran


def test_a_failed_workflow_answers_409_without_the_database_error(sample_project, caplog) -> None:
    migrate(load_project(sample_project), container=lambda: Application(sample_project).boot().container, echo=lambda line: None)

    async def scenario(http, app):
        # An int the database cannot store: the save step fails inside the workflow.
        return await http.post("/store/posts", json={"title": "Huge", "price_cents": 2**70})

    with caplog.at_level(logging.ERROR):
        response = serve(sample_project, scenario)
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["error"] == "conflict" and body["message"].startswith("the post could not be published (transaction ")
    for leak in ("INSERT", "SQL", "blog_post", "Overflow", "Huge", str(2**70)):
        assert leak not in response.text
    assert "OverflowError: Python int too large" in caplog.text  # the detail is in the server's log
