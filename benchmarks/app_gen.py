"""The realistic generated app every benchmark runs on.

N route files ``src/api/r<i:05d>/route.py``. Each defines its own pydantic models (a nested
model, a list field, a field validator), builds a sample at import, and imports one shared
helper ``src/lib/shared.py`` (a value and the function the validator calls), so a route import
costs what a real one does (pydantic builds each model's validator) and a change to the helper
touches every route. ``app.py`` serves the same handlers through plain Starlette, for
``uvicorn --reload``: both servers run the same code.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["flag_path", "flag_source", "generate", "helper_path", "helper_source", "route_path", "route_source"]

ROUTE = '''\
from pydantic import BaseModel, Field, field_validator
{gate}
from src.lib.shared import VALUE, normalise


class Address(BaseModel):
    street: str
    city: str = "Paris"
    postcode: str = Field(default="75001", pattern=r"^[0-9]{{5}}$")


class Item(BaseModel):
    id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    tags: list[str] = []
    prices: list[float] = []
    address: Address
    note: str | None = None

    @field_validator("name")
    @classmethod
    def clean_name(cls, value: str) -> str:
        return normalise(value)


SAMPLE = Item(id={index}, name=" item {index} ", tags=["a", "b"], prices=[1.5, 2.0], address=Address(street="1 rue"))


async def GET(request):
    return {{"v": "{version}", "shared": VALUE, "item": SAMPLE.model_dump(mode="json")}}
'''

#: Gated routes are served only while the ``bench_flag`` flag is on (a file config).
GATE = '''
from loader import FeatureFlag, define_file_config

define_file_config(is_disabled=lambda: not FeatureFlag.is_feature_enabled("bench_flag"))
'''

FLAG = '''\
from loader import FlagSettings

bench_flag = FlagSettings(key="bench_flag", default_val={on}, env_key="LOADER_FF_BENCH_FLAG", description="{description}")
'''

HELPER = '''\
VALUE = "{version}"


def normalise(text: str) -> str:
    return " ".join(text.split()).lower()
'''

PID_ROUTE = 'import os\n\n\nasync def GET(request):\n    return {"pid": os.getpid()}\n'


def route_path(project: Path, i: int) -> Path:
    return project / "src" / "api" / f"r{i:05d}" / "route.py"


def helper_path(project: Path) -> Path:
    return project / "src" / "lib" / "shared.py"


def flag_path(project: Path) -> Path:
    return project / "src" / "feature_flags" / "bench_flag.py"


def route_source(version: str, index: int = 1, *, gated: bool = False) -> str:
    return ROUTE.format(version=version, index=index, gate=GATE if gated else "")


def flag_source(on: bool, description: str = "benchmark flag") -> str:
    return FLAG.format(on=on, description=description)


def helper_source(version: str) -> str:
    return HELPER.format(version=version)


def generate(
    parent: Path, name: str, count: int, *, pid_route: bool = False, gated_every: int = 0, extra_routes: dict[str, str] | None = None,
) -> Path:
    """Write the project ``parent/name`` with ``count`` routes; ``extra_routes``: path → source.

    ``gated_every``: every n-th route (never the first) is gated on the ``bench_flag`` flag,
    defined in ``src/feature_flags/bench_flag.py`` and on.
    """
    project = parent / name
    (project / "src" / "api").mkdir(parents=True)
    (project / "src" / "lib").mkdir()
    helper_path(project).write_text(helper_source("v0"))
    (project / "loader_config.py").write_text("from loader import define_config\nconfig = define_config()\n")
    for i in range(1, count + 1):
        route_path(project, i).parent.mkdir()
        route_path(project, i).write_text(route_source("v0", i, gated=bool(gated_every) and i % gated_every == 0))
    if gated_every:
        flag_path(project).parent.mkdir()
        flag_path(project).write_text(flag_source(True))
    extras = dict(extra_routes or {})
    if pid_route:
        extras["pid"] = PID_ROUTE
    for folder, source in extras.items():
        (project / "src" / "api" / folder).mkdir(parents=True)
        (project / "src" / "api" / folder / "route.py").write_text(source)
    names = [(f"r{i:05d}", f"src.api.r{i:05d}.route") for i in range(1, count + 1)]
    names += [(folder, f"src.api.{folder.replace('/', '.')}.route") for folder in extras]
    imports = "".join(f"import {module} as m{n}\n" for n, (_, module) in enumerate(names))
    routes = "".join(f'    Route("/{path}", endpoint(m{n}.GET)),\n' for n, (path, _) in enumerate(names))
    (project / "app.py").write_text(
        "from starlette.applications import Starlette\nfrom starlette.responses import JSONResponse\n"
        f"from starlette.routing import Route\n\n{imports}\n\ndef endpoint(handler):\n    async def call(request):\n"
        f"        return JSONResponse(await handler(request))\n    return call\n\n\napp = Starlette(routes=[\n{routes}])\n"
    )
    return project
