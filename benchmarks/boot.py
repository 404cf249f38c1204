"""Boot benchmark (DESIGN §4, P4): discovery boot of a project vs plain imports.

Generates throw-away projects of 10, 1,000 and 10,000 route files: the realistic app of
``benchmarks/app_gen.py`` (each route module with its own pydantic models, all importing one
shared helper), and measures, side by side in one run:

(a) ``scan``  — ``loader.discovery.scan.scan_root`` over the roots ``load_project`` scans
    (the built-in root and ``src/``; generated projects have no plugins or modules);
(b) ``load``  — ``loader.load_project(project)``: config, plugins, discovery, import, register;
(c) ``plain`` — ``importlib.import_module`` of the same dotted names (``src.api.r00001.route``…)
    with the project folder on ``sys.path``, no loader involved.

Every measurement runs in a fresh ``sys.executable`` subprocess (``boot.py --measure MODE
PROJECT``), so no module cache leaks between runs. An untimed warm-up of (b) and (c) first
writes the ``.pyc`` files, so all variants run on warm bytecode. Inside the child only the
measured part is timed with ``time.perf_counter``: interpreter start-up and ``import loader``
are excluded (the latter is reported on its own). Runs are interleaved (a, b, c, a, b, c, …)
so machine noise hits every variant alike; the figures are medians.

Targets: (b) ≤ 1.25 × (c) at 1,000 routes; (a) grows linearly (time per file at 10,000 routes
within 1.5× of that at 1,000). Note (b) stops at a loaded registry; the first response of
P4 is not included.

Run::

    python benchmarks/boot.py            # 5 runs at 10 and 1,000 routes, 3 at 10,000
    python benchmarks/boot.py --quick    # fewer runs, 10,000 skipped
    python benchmarks/boot.py --no-docs  # print the table only

The table is printed and written between the ``boot`` markers of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from app_gen import generate as generate_app
from perfdoc import DOCS, write_section  # benchmarks/perfdoc.py (scripts run from benchmarks/)

MODES = ("scan", "load", "plain", "plain-nogc")
RATIO_TARGET = 1.25
RATIO_SIZE = 1_000
LINEAR_SLACK = 1.5


def module_names(count: int) -> list[str]:
    return [f"src.api.r{i:05d}.route" for i in range(1, count + 1)]


def generate(parent: Path, count: int) -> Path:
    """The realistic app of ``benchmarks/app_gen.py`` with ``count`` routes under ``parent``."""
    return generate_app(parent, f"routes_{count}", count)


# --- child side ----------------------------------------------------------------------------


def measure(mode: str, project: Path, count: int) -> dict[str, float]:
    """Run one measurement in this (fresh) process; seconds of the measured part."""
    result: dict[str, float] = {}
    if mode.startswith("plain"):
        import gc
        import importlib

        # What `import loader` imports (untimed in (b) too), including the pydantic names the
        # routes use (pydantic imports them lazily, on first use).
        from pydantic import BaseModel, Field, field_validator  # noqa: F401

        names = module_names(count)
        sys.path.insert(0, str(project))
        if mode == "plain-nogc":  # the same footing as load_project, which pauses the GC
            gc.disable()
        start = time.perf_counter()
        for name in names:
            importlib.import_module(name)
        result["seconds"] = time.perf_counter() - start
        return result

    start = time.perf_counter()
    import loader
    from loader.discovery.roots import builtin_root, project_root
    from loader.discovery.scan import scan_root
    from loader.kinds import builtin_kinds

    result["import_loader"] = time.perf_counter() - start
    if mode == "scan":
        start = time.perf_counter()
        kinds = builtin_kinds()
        files = [f for root in (builtin_root(), project_root(project)) for f in scan_root(root, kinds)]
        result["seconds"] = time.perf_counter() - start
        found = sum(1 for f in files if f.kind == "route" and f.module_name.startswith("src."))
    else:
        start = time.perf_counter()
        loaded = loader.load_project(project)
        result["seconds"] = time.perf_counter() - start
        if loaded.errors:
            raise SystemExit(f"load_project reported errors: {loaded.errors[:3]}")
        found = sum(1 for n in module_names(count) if n in sys.modules)
    if found != count:
        raise SystemExit(f"{mode}: expected {count} project routes, got {found}")
    return result


# --- parent side ---------------------------------------------------------------------------


def run_child(mode: str, project: Path, count: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--measure", mode, str(project), str(count)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=project).stdout
    data: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return data


def bench_size(project: Path, count: int, repeats: int) -> dict[str, float]:
    """Medians (seconds) of every mode, plus the median ``import loader`` time."""
    run_child("load", project, count)  # warm-up: writes the .pyc files, untimed
    run_child("plain", project, count)
    samples: dict[str, list[float]] = {m: [] for m in MODES}
    imports: list[float] = []
    for _ in range(repeats):
        for mode in MODES:
            data = run_child(mode, project, count)
            samples[mode].append(data["seconds"])
            if "import_loader" in data:
                imports.append(data["import_loader"])
    medians = {m: statistics.median(v) for m, v in samples.items()}
    medians["import_loader"] = statistics.median(imports)
    # (b)/(c′) of each run (the variants of one run ran back to back): the worse end decides.
    fair = [b / c for b, c in zip(samples["load"], samples["plain-nogc"], strict=True)]
    medians["fair_min"], medians["fair_max"] = min(fair), max(fair)
    return medians


def render(results: dict[int, dict[str, float]], command: str) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1000:,.1f}"

    lines = [
        f"Boot benchmark — {datetime.date.today().isoformat()}, Python {platform.python_version()}, "
        f"`{command}` (medians; each run a fresh subprocess, warm bytecode).",
        "(a) `scan_root` over the built-in root and `src/`; (b) `load_project` (config, plugins, discovery, "
        "import, register; no first response); (c) `importlib.import_module` of the same route modules; "
        "(c′) the same with the cyclic GC paused, as `load_project` pauses it during a boot — (b)/(c′) is "
        "the cost of loader's own work on equal footing. `import loader` is excluded from (a) and (b) and shown on its own.",
        "",
        "| routes | (a) scan ms | scan µs/file | (b) load_project ms | (c) plain import ms | (b)/(c) "
        "| (c′) plain, GC paused ms | (b)/(c′) (runs) | `import loader` ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count, r in sorted(results.items()):
        lines.append(
            f"| {count:,} | {ms(r['scan'])} | {r['scan'] / count * 1e6:,.1f} | {ms(r['load'])} | "
            f"{ms(r['plain'])} | {r['load'] / r['plain']:.2f}× | {ms(r['plain-nogc'])} | "
            f"{r['load'] / r['plain-nogc']:.2f}× ({r['fair_min']:.2f}–{r['fair_max']:.2f}) | {ms(r['import_loader'])} |"
        )
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    if RATIO_SIZE in results:
        ratio = results[RATIO_SIZE]["load"] / results[RATIO_SIZE]["plain"]
        verdict = "PASS" if ratio <= RATIO_TARGET else "FAIL"
        lines.append(f"| P4: (b) ≤ {RATIO_TARGET} × (c) at {RATIO_SIZE:,} routes | {ratio:.2f}× | {verdict} |")
        r = results[RATIO_SIZE]
        fair = r["load"] / r["plain-nogc"]
        verdict = "PASS" if r["fair_max"] <= RATIO_TARGET else "FAIL"
        lines.append(f"| P4 on equal footing: (b) ≤ {RATIO_TARGET} × (c′) at {RATIO_SIZE:,} routes, in every run "
                     f"| {fair:.2f}× (runs {r['fair_min']:.2f}–{r['fair_max']:.2f}×) | {verdict} |")
    sizes = sorted(s for s in results if s >= RATIO_SIZE)
    if len(sizes) >= 2:
        small, large = (results[s]["scan"] / s for s in (sizes[0], sizes[-1]))
        growth = large / small
        verdict = "PASS" if growth <= LINEAR_SLACK else "FAIL"
        lines.append(
            f"| (a) linear: µs/file at {sizes[-1]:,} ≤ {LINEAR_SLACK} × at {sizes[0]:,} | {growth:.2f}× | {verdict} |"
        )
    else:
        lines.append("| (a) linear | needs ≥ 2 sizes ≥ 1,000 (not run with --quick) | n/a |")
    return "\n".join(lines) + "\n"


def write_docs(section: str) -> None:
    write_section('boot', 'Boot (discovery, import, register)', section)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--measure", nargs=3, metavar=("MODE", "PROJECT", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="2 runs at 10 and 1,000 routes only")
    parser.add_argument("--sizes", type=int, nargs="+", help="route counts (default 10 1000 10000)")
    parser.add_argument("--repeats", type=int, help="runs per variant and size (overrides the defaults)")
    parser.add_argument("--no-docs", action="store_true", help=f"do not update {DOCS.name}")
    args = parser.parse_args(argv)

    if args.measure:
        mode, project, count = args.measure
        if mode not in MODES:
            parser.error(f"mode must be one of {MODES}")
        print(json.dumps(measure(mode, Path(project), int(count))))
        return

    sizes: list[int] = args.sizes or ([10, 1_000] if args.quick else [10, 1_000, 10_000])
    command = "python benchmarks/boot.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    workdir = Path(tempfile.mkdtemp(prefix="loader-boot-"))
    results: dict[int, dict[str, float]] = {}
    try:
        for count in sizes:
            repeats = args.repeats or (2 if args.quick else 5 if count <= 1_000 else 3)
            project = generate(workdir, count)
            print(f"… {count:,} routes, {repeats} runs per variant", file=sys.stderr, flush=True)
            results[count] = bench_size(project, count, repeats)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    section = render(results, command)
    print(section)
    if not args.no_docs:
        write_docs(section)


if __name__ == "__main__":
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    main()
