"""The invariant of hot reload, as a property: after any sequence of file changes, the running
application holds what a fresh boot of the same files holds.

A seeded random walk of edits over a small project — good and broken saves, fixes, deletes,
renames, a helper that every route imports, duplicate subscriber ids appearing and going away,
a flag whose value turns a file config on and off — and after every step the reloaded
application is compared with a fresh boot of the tree: each resource (kind, id, source,
enabled, disabled reason) and each error. The one allowed difference is the point of hot
reload: a file whose latest save is broken keeps serving its last good version (flagged
stale); the fresh boot has none, and both report the same error.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from loader import FeatureFlag, load_project
from loader.core.registry import Registry
from loader.runtime.application import Application

ROUTES = ["a", "b", "c"]
SUBSCRIBERS = ["s1", "s2", "s3"]

ROUTE_GOOD = "from src.lib.helper import greet\n\n\nasync def GET(request):\n    return {{'v': greet({v!r})}}\n"
ROUTE_PLAIN = "async def GET(request):\n    return {{'v': {v!r}}}\n"
ROUTE_FLAGGED = (
    "from loader import FeatureFlag, define_file_config\n\n"
    "define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled('walk_flag'))\n\n\n"
    "async def GET(request):\n    return {{'v': {v!r}}}\n"
)
ROUTE_SYNTAX = "async def GET(request)\n    return {'v': 'broken'}\n"
ROUTE_RAISES = "raise RuntimeError('broken at import')\n"
ROUTE_NO_HANDLER = "x = 1\n"
HELPER_GOOD = "def greet(name):\n    return 'hello ' + name + {v!r}\n"
HELPER_BROKEN = "def greet(name)\n    return name\n"
SUBSCRIBER = "from loader import subscriber\n\n\n@subscriber('walk.event', subscriber_id={sid!r})\nasync def handle(event, container):\n    return None\n"
SUBSCRIBER_BROKEN = "from loader import subscriber\n\nraise ValueError('broken subscriber')\n"
FLAG = "from loader import FlagSettings\n\nwalk_flag = FlagSettings(key='walk_flag', default_val={on}, description='walk')\n"


def state(registry: Registry) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    resources = sorted(
        (d["kind"], d["id"], d["source"], d["enabled"], d["disabled_reason"])
        for r in registry.list()
        if not registry.is_stale(r.source.display) and r.origin.kind == "project"
        for d in [registry.describe(r)]
    )
    errors = sorted((e.path, e.line, e.message) for e in registry.errors)
    return resources, errors


@contextmanager
def aside(prefix: str) -> Iterator[None]:
    """Boot a second time in this process without disturbing the running one."""
    modules = {n: m for n, m in sys.modules.items() if n == prefix or n.startswith(prefix + ".")}
    for name in modules:
        del sys.modules[name]
    flags = FeatureFlag.snapshot()
    environ = dict(os.environ)
    try:
        yield
    finally:
        for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
            del sys.modules[name]
        sys.modules.update(modules)
        FeatureFlag.restore(flags)
        os.environ.clear()
        os.environ.update(environ)


def fresh_state(root: Path) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with aside("src"):
        return state(load_project(root).registry)


class Walk:
    """One random step at a time over the project's files; returns the paths it touched."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root, self.rng, self.version = root, rng, 0

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def remove(self, rel: str) -> Path:
        path = self.root / rel
        path.unlink(missing_ok=True)
        return path

    def step(self) -> tuple[str, list[Path]]:
        self.version += 1
        v = f"v{self.version}"
        rng = self.rng
        route = f"src/api/{rng.choice(ROUTES)}/route.py"
        sub = f"src/subscribers/{rng.choice(SUBSCRIBERS)}.py"
        move = rng.random()
        if move < 0.25:
            body = rng.choice([ROUTE_GOOD, ROUTE_PLAIN, ROUTE_FLAGGED]).format(v=v)
            return f"good {route}", [self.write(route, body)]
        if move < 0.40:
            body = rng.choice([ROUTE_SYNTAX, ROUTE_RAISES, ROUTE_NO_HANDLER])
            return f"broken {route}", [self.write(route, body)]
        if move < 0.48:
            return f"delete {route}", [self.remove(route)]
        if move < 0.55:
            target = f"src/api/{rng.choice(ROUTES)}_moved/route.py"
            source = self.root / route
            if not source.exists():
                return f"write {target}", [self.write(target, ROUTE_PLAIN.format(v=v))]
            text = source.read_text()
            source.unlink()
            return f"rename {route} -> {target}", [source, self.write(target, text)]
        if move < 0.68:
            good = rng.random() < 0.7
            text = HELPER_GOOD.format(v=v) if good else HELPER_BROKEN
            return f"helper {'good' if good else 'broken'}", [self.write("src/lib/helper.py", text)]
        if move < 0.82:
            sid = rng.choice(["shared-id", f"own-{sub}"])
            if rng.random() < 0.3:
                return f"subscriber {sub} broken", [self.write(sub, SUBSCRIBER_BROKEN)]
            return f"subscriber {sub} id={sid}", [self.write(sub, SUBSCRIBER.format(sid=sid))]
        if move < 0.88:
            return f"delete {sub}", [self.remove(sub)]
        on = rng.random() < 0.5
        return f"flag default {on}", [self.write("src/feature_flags/walk.py", FLAG.format(on=on))]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_reloaded_application_equals_a_fresh_boot_after_every_step(make_project, seed: int, monkeypatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # two saves in one second must not share a .pyc
    files = {f"src/api/{name}/route.py": ROUTE_GOOD.format(v="v0") for name in ROUTES}
    files["src/lib/helper.py"] = HELPER_GOOD.format(v="v0")
    files["src/subscribers/s1.py"] = SUBSCRIBER.format(sid="shared-id")
    files["src/feature_flags/walk.py"] = FLAG.format(on=True)
    root = make_project(files)
    walk = Walk(root, random.Random(seed))
    steps = 250

    async def main() -> None:
        app = Application(root).boot()
        await app.start()
        history: list[str] = []
        try:
            assert state(app.registry) == fresh_state(root)
            for _ in range(steps):
                what, paths = walk.step()
                history.append(what)
                report = await app.reload(paths)
                assert report.restart_reason is None, (history, report.restart_reason)
                running, fresh = state(app.registry), fresh_state(root)
                assert running == fresh, f"after {history[-8:]}:\nrunning {running}\nfresh   {fresh}"
                # What serves is what the registry says is active.
                subscribed = {sid for _, sid, _ in app.event_bus.subscriptions() if sid}
                active = {r.id for r in app.registry.snapshot().of("subscriber")}
                assert subscribed >= active, history[-8:]
                served = sorted((r.id, id(r)) for r in app.asgi.table.resources)
                assert served == sorted((r.id, id(r)) for r in app.registry.snapshot().of("route")), history[-8:]
        finally:
            await app.stop()

    asyncio.run(main())
