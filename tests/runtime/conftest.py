"""Helpers for runtime tests: boot a project and talk to it over real ASGI with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from loader.runtime.application import Application

T = TypeVar("T")


def client(app: Application) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app.asgi), base_url="http://testserver")


def serve(root: Path, scenario: Callable[[httpx.AsyncClient, Application], Awaitable[T]], **options: Any) -> T:
    """Boot ``root``, start it, run ``scenario(client, app)``, stop it; returns what it returned."""

    async def main() -> T:
        app = Application(root, **options).boot()
        await app.start()
        try:
            async with client(app) as http:
                return await scenario(http, app)
        finally:
            await app.stop()

    return asyncio.run(main())
