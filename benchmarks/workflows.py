"""Workflow benchmark (DESIGN §4 W1; issue 10): loader's workflow engine vs DBOS Transact.

The same three-step workflow (each step returns a small dict built from the previous one) runs,
side by side in one run, on:

- ``loader:<provider>``: a generated project (``src/workflows/bench.py``, ``create_step`` ×3 and
  ``create_workflow``), booted and started with ``Application``, each execution
  ``await engine.run("bench", i)`` on the built-in ``workflow_engine`` module with that provider
  (every provider the engine has: ``memory`` today; ``sql`` on SQLite and PostgreSQL when it
  exists);
- ``dbos:sqlite`` and ``dbos:postgresql``: DBOS Transact (``pip install -e '.[bench]'``) with
  ``@DBOS.step()`` ×3 and ``@DBOS.workflow()``, its system database a fresh SQLite file or a
  fresh PostgreSQL database (127.0.0.1:5432, dropped after);
- ``direct``: the three functions awaited in a row, no engine: the floor, from which the
  engines' per-step overhead is computed ((engine − direct) / 3 per execution).

Each (system, database) runs in a fresh subprocess: N sequential executions, then N more as
batches of 16 launched together (``asyncio.gather``), after a warm-up of 10. Rounds alternate the
order of the systems, so machine drift hits each alike; figures are medians with the range of
the per-round figures; a verdict is taken at the worse end. Target W1: loader ≥ 5 × DBOS's
executions/s on the same database, sequential and concurrent; per-step overhead on ``memory``
under 50 µs. A (system, database) whose engine or provider does not exist yet is reported as
such, not skipped silently.

Run ``python benchmarks/workflows.py`` (3 rounds × 300 executions) or ``--quick`` (2 × 60);
``--no-docs`` leaves ``docs/performance.md`` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from perfdoc import DOCS, write_section  # benchmarks/perfdoc.py (scripts run from benchmarks/)

POSTGRES = "postgresql://postgres@127.0.0.1:5432/"
BATCH = 16
WARM_UP = 10
TARGET_RATIO = 5.0
TARGET_STEP_US = 50.0

WORKFLOW = '''\
from loader import create_step, create_workflow


async def _one(x, ctx):
    return {"a": x}


async def _two(x, ctx):
    return {"b": x["a"] + 1}


async def _three(x, ctx):
    return {"c": x["b"] * 2}


one = create_step("one", _one)
two = create_step("two", _two)
three = create_step("three", _three)


@create_workflow("bench")
async def bench(x, ctx):
    return await three(await two(await one(x)))
'''


async def _direct_one(x: int) -> dict[str, int]:
    return {"a": x}


async def _direct_two(x: dict[str, int]) -> dict[str, int]:
    return {"b": x["a"] + 1}


async def _direct_three(x: dict[str, int]) -> dict[str, int]:
    return {"c": x["b"] * 2}


async def _direct(x: int) -> dict[str, int]:
    return await _direct_three(await _direct_two(await _direct_one(x)))


async def _measure(run: Any, n: int) -> dict[str, float]:
    """Executions/s of ``run(i)``: n in a row, then n as batches of 16 at a time."""
    for i in range(WARM_UP):
        await run(i)
    started = time.perf_counter()
    for i in range(n):
        await run(i)
    sequential = n / (time.perf_counter() - started)
    batches = max(1, n // BATCH)
    started = time.perf_counter()
    for b in range(batches):
        await asyncio.gather(*(run(b * BATCH + i) for i in range(BATCH)))
    concurrent = batches * BATCH / (time.perf_counter() - started)
    return {"sequential": sequential, "concurrent": concurrent}


# --- the systems, each run in its own subprocess (--child SYSTEM DATABASE N WORKDIR) ---------
def _loader_config(provider: str, database_url: str | None) -> str:
    project = {"database_url": database_url} if database_url else {}
    # memory is the engine's default provider today; sql is chosen by name (issue 11, item 0)
    modules = {} if provider == "memory" else {"workflow_engine": {"providers": [{"resolve": provider, "id": provider, "is_default": True}]}}
    return f"from loader import define_config\n\nconfig = define_config(project={project!r}, modules={modules!r})\n"


async def _run_loader(provider: str, database_url: str | None, n: int, workdir: Path) -> dict[str, float]:
    project = workdir / f"loader_{provider}_{uuid.uuid4().hex[:8]}"
    (project / "src" / "workflows").mkdir(parents=True, exist_ok=True)
    (project / "src" / "workflows" / "bench.py").write_text(WORKFLOW)
    (project / "loader_config.py").write_text(_loader_config(provider, database_url))
    from loader.runtime.application import Application

    app = Application(project).boot()
    if app.errors:
        raise SystemExit("; ".join(e.format() for e in app.errors))
    if database_url:
        subprocess.run([sys.executable, "-m", "loader", "db", "migrate", str(project)], check=True, capture_output=True)
    await app.start()
    try:
        engine = app.container.resolve("workflow_engine")

        async def run(i: int) -> None:
            result = await engine.run("bench", i)
            if result.result != {"c": (i + 1) * 2}:
                raise SystemExit(f"loader:{provider} returned {result!r}")

        return await _measure(run, n)
    finally:
        await app.stop()


async def _run_dbos(database_url: str, n: int) -> dict[str, float]:
    from dbos import DBOS, DBOSConfig

    config: DBOSConfig = {"name": "bench", "system_database_url": database_url, "run_admin_server": False}
    DBOS(config=config)

    @DBOS.step()
    async def one(x: int) -> dict[str, int]:
        return {"a": x}

    @DBOS.step()
    async def two(x: dict[str, int]) -> dict[str, int]:
        return {"b": x["a"] + 1}

    @DBOS.step()
    async def three(x: dict[str, int]) -> dict[str, int]:
        return {"c": x["b"] * 2}

    @DBOS.workflow()
    async def bench(x: int) -> dict[str, int]:
        return await three(await two(await one(x)))

    DBOS.launch()
    try:
        async def run(i: int) -> None:
            if await bench(i) != {"c": (i + 1) * 2}:
                raise SystemExit("dbos returned a wrong result")

        return await _measure(run, n)
    finally:
        DBOS.destroy()


def _child(system: str, database: str, n: int, workdir: Path) -> dict[str, float]:
    if system == "direct":
        return asyncio.run(_measure(_direct, n))
    database_url = None
    if database == "sqlite":
        database_url = f"sqlite:///{workdir / f'{system}-{uuid.uuid4().hex[:8]}.sqlite'}"
    elif database == "postgresql":
        database_url = POSTGRES + f"bench_{system}_{uuid.uuid4().hex[:8]}"
        if system == "loader":  # DBOS creates its system database itself; loader migrates an existing one
            _admin(f'CREATE DATABASE "{database_url.rsplit("/", 1)[1]}"')
    try:
        if system == "dbos":
            assert database_url is not None
            return asyncio.run(_run_dbos(database_url, n))
        provider = "memory" if database == "memory" else "sql"
        return asyncio.run(_run_loader(provider, database_url if provider == "sql" else None, n, workdir))
    finally:
        if database == "postgresql" and database_url:
            _drop_database(database_url.rsplit("/", 1)[1])


def _drop_database(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(POSTGRES.replace("postgresql://", "postgresql+psycopg://") + "postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


# --- the parent: rounds of subprocesses ----------------------------------------------------------
CASES = (
    ("direct", "none"), ("loader", "memory"), ("loader", "sqlite"), ("loader", "postgresql"),
    ("dbos", "sqlite"), ("dbos", "postgresql"),
)


def _run_case(system: str, database: str, n: int, workdir: Path) -> dict[str, float] | str:
    if system == "dbos" and importlib.util.find_spec("dbos") is None:
        return "not installed (pip install -e '.[bench]')"
    done = subprocess.run(
        [sys.executable, __file__, "--child", system, database, str(n), str(workdir)],
        capture_output=True, text=True, cwd=Path(__file__).parent, timeout=900,
    )
    if done.returncode:
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        return (lines[-1] if lines else f"exit {done.returncode}")[:160]
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def render(results: dict[str, list[dict[str, float] | str]], n: int, rounds: int, command: str) -> str:
    def figures(case: str, key: str) -> list[float] | None:
        runs = results[case]
        return None if any(isinstance(r, str) for r in runs) else [r[key] for r in runs if isinstance(r, dict)]

    def cell(values: list[float] | None) -> str:
        return "—" if values is None else f"{statistics.median(values):,.0f} ({min(values):,.0f}–{max(values):,.0f})"

    lines = [
        f"Workflow benchmark — {datetime.date.today().isoformat()}, Python {platform.python_version()}, `{command}` "
        f"(medians, per-round range in brackets; {rounds} rounds, each (system, database) a fresh process running "
        f"{n} executions in a row, then {n} as batches of {BATCH}).",
        "",
        "| system | database | sequential executions/s | 16 at a time, executions/s | note |",
        "|---|---|---:|---:|---|",
    ]
    for case, runs in results.items():
        system, database = case.split(":")
        note = next((r for r in runs if isinstance(r, str)), "")
        lines.append(f"| {system} | {database} | {cell(figures(case, 'sequential'))} | {cell(figures(case, 'concurrent'))} | {note} |")
    lines += ["", "| target | measured (worst round) | verdict |", "|---|---|---|"]
    verdicts = []
    for database in ("sqlite", "postgresql"):
        for key in ("sequential", "concurrent"):
            ours, theirs = figures(f"loader:{database}", key), figures(f"dbos:{database}", key)
            if ours is None or theirs is None:
                lines.append(f"| W1 {key} on {database}: loader ≥ {TARGET_RATIO:g} × DBOS | not measured | OPEN |")
                verdicts.append(False)
                continue
            worst = min(a / b for a, b in zip(ours, theirs))
            lines.append(f"| W1 {key} on {database}: loader ≥ {TARGET_RATIO:g} × DBOS | {worst:.1f}× | {'PASS' if worst >= TARGET_RATIO else 'FAIL'} |")
            verdicts.append(worst >= TARGET_RATIO)
    ours, floor = figures("loader:memory", "sequential"), figures("direct:none", "sequential")
    if ours is None or floor is None:
        lines.append(f"| per-step overhead on memory < {TARGET_STEP_US:g} µs | not measured | OPEN |")
        verdicts.append(False)
    else:
        worst_us = max((1 / a - 1 / b) / 3 * 1e6 for a, b in zip(ours, floor))
        lines.append(f"| per-step overhead on memory < {TARGET_STEP_US:g} µs | {worst_us:.1f} µs | {'PASS' if worst_us < TARGET_STEP_US else 'FAIL'} |")
        verdicts.append(worst_us < TARGET_STEP_US)
    lines += ["", f"**W1: {'PASS' if all(verdicts) else 'not met yet'}**"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--child", nargs=4, metavar=("SYSTEM", "DATABASE", "N", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 rounds × 60 executions")
    parser.add_argument("--no-docs", action="store_true", help=f"do not update {DOCS.name}")
    args = parser.parse_args(argv)
    if args.child:
        system, database, n, workdir = args.child
        print(json.dumps(_child(system, database, int(n), Path(workdir))))
        return
    n, rounds = (60, 2) if args.quick else (300, 3)
    command = "python benchmarks/workflows.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    results: dict[str, list[dict[str, float] | str]] = {f"{s}:{d}": [] for s, d in CASES}
    with tempfile.TemporaryDirectory(prefix="loader-workflows-") as workdir:
        for r in range(rounds):
            order = CASES if r % 2 == 0 else CASES[::-1]
            for system, database in order:
                print(f"… round {r + 1}/{rounds}: {system} on {database}", file=sys.stderr, flush=True)
                results[f"{system}:{database}"].append(_run_case(system, database, n, Path(workdir)))
    section = render(results, n, rounds, command)
    print(section)
    if not args.no_docs:
        write_section("workflows", "Workflows (W1)", section)


if __name__ == "__main__":
    main()
