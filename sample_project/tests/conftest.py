"""Shared fixtures of the sample project's tests. loader's own (loader_client, loader_app,
loader_project, loader_options) come with loader: nothing to import."""

import pytest


@pytest.fixture(scope="session")
def anyio_backend():
    # loader runs on asyncio; without this, anyio would run each test on trio too, if installed
    return "asyncio"
