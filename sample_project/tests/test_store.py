"""The sample project's endpoints. Each test boots the project on a fresh temporary SQLite
database with its migrations and data scripts applied; run them in this folder with
`python -m pytest`."""

import logging

import pytest

from loader.testing import run_project

pytestmark = pytest.mark.anyio


async def test_hello(loader_client):
    response = await loader_client.get("/store/hello")
    assert response.status_code == 200
    assert response.json() == {"message": "hello"}
    assert response.headers["x-powered-by"] == "loader"  # src/api/middlewares.py


async def test_the_seed_script_ran(loader_client):
    response = await loader_client.get("/store/posts")
    assert [post["title"] for post in response.json()["posts"]] == ["Welcome"]


async def test_create_then_read_a_post(loader_client):
    created = await loader_client.post("/store/posts", json={"title": "First", "price_cents": 1999})
    assert created.status_code == 201
    post_id = created.json()["post"]["id"]

    response = await loader_client.get(f"/store/posts/{post_id}")
    assert response.status_code == 200
    assert response.json()["price"] == "19.99 EUR"
    listed = await loader_client.get("/store/posts")
    assert [post["title"] for post in listed.json()["posts"]] == ["Welcome", "First"]


async def test_an_invalid_post_is_refused(loader_client):
    response = await loader_client.post("/store/posts", json={"title": "", "price_cents": -1})
    assert response.status_code == 400
    assert {error["loc"][0] for error in response.json()["errors"]} == {"title", "price_cents"}


async def test_an_unknown_post_is_not_found(loader_client):
    response = await loader_client.get("/store/posts/999")
    assert response.status_code == 404


async def test_a_new_post_reaches_its_subscriber(loader_client, loader_app, caplog):
    with caplog.at_level(logging.INFO):
        await loader_client.post("/store/posts", json={"title": "Hello"})
        await loader_app.event_bus.drain()  # subscribers run after the response
    assert "new post 2: Hello" in caplog.text


async def test_custom_is_off_by_default(loader_client):
    response = await loader_client.get("/store/custom")
    assert response.status_code == 404


async def test_custom_feature_serves_custom(loader_project):
    env = {"LOADER_FF_CUSTOM_FEATURE": "true"}
    async with run_project(loader_project, env=env) as project:
        response = await project.client.get("/store/custom")
    assert response.json() == {"message": "custom feature is on", "price": "19.99 EUR"}
