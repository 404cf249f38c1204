"""The ``loader`` command line (click for parsing, rich for tables).

A :class:`~loader.errors.LoaderError` is printed as one clear line, ``error: path:line: message``,
with no traceback; anything else is a bug in loader or a plugin and shows its traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sys
from pathlib import Path
from typing import Any, Literal

import click
from rich.markup import escape
from rich.table import Table

from loader.discovery.plugins import installed_plugins, loader_version
from loader.cli_output import clean_errors, err, out
from loader.errors import LoaderError, one_line_warnings
from loader.project import Project, load_project

__all__ = ["main", "cli"]

@click.group(context_settings={"help_option_names": ["-h", "--help"]})  # subcommands inherit -h
@click.version_option(loader_version(), prog_name="loader")
def cli() -> None:
    """loader: turn a project folder and plugins into a running backend."""
    one_line_warnings()


project_argument = click.argument("project", default=".", type=click.Path(file_okay=False, path_type=Path))


@cli.command()
@project_argument
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: resources, flags, plugins, errors.")
@clean_errors
def inspect(project: Path, as_json: bool) -> None:
    """List every resource, flag, plugin and error of PROJECT (default: the current folder)."""
    loaded = _load_quietly(project) if as_json else load_project(project)
    if as_json:
        click.echo(json.dumps(loaded.inspect_data(), indent=2, default=str))
    else:
        _print_inspect(loaded)
    if loaded.errors:
        sys.exit(1)


@cli.command()
@project_argument
@click.option("--host", help="Interface to bind (default: project.http.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to bind (default: project.http.port, 9000; 0: any free port).")
@click.option("--grace", type=float, default=10.0, show_default=True, help="Seconds to let requests, jobs and events finish on shutdown.")
@click.option("--allow-pending-migrations", is_flag=True, help="Serve even if migrations are pending.")
@click.option("--log-format", type=click.Choice(["console", "json"]), help="Log lines as text or as JSON objects (default: project.logging.format, console).")
@click.option("--access-log/--no-access-log", default=None, help="Log one line per request (default: project.logging.access_log, off).")
@clean_errors
def start(
    project: Path, host: str | None, port: int | None, grace: float, allow_pending_migrations: bool,
    log_format: Literal["console", "json"] | None, access_log: bool | None,
) -> None:
    """Serve PROJECT in production mode (no reload). SIGTERM or SIGINT shut it down gracefully."""
    import uvicorn

    from loader.db import check_migrations
    from loader.logs import request_server_logging, server_logging
    from loader.runtime.access_log import with_access_log
    from loader.runtime.application import Application
    from loader.runtime.server import server_config
    from loader.runtime.sockets import listen

    request_server_logging("start", format=log_format, access_log=access_log)  # applied by the boot
    app = Application(project, grace_period=grace, openapi_default=False).boot()
    logs = server_logging()
    say = _say_in_json if logs and logs.configured and logs.format == "json" else _say
    if app.errors:
        err.print(f"[red]error:[/red] {len(app.errors)} problem(s) in {app.root}; not serving:", markup=True)
        for error in app.errors:
            err.print(f"  {error.format()}", markup=False)
        sys.exit(1)
    if not allow_pending_migrations:
        check_migrations(app.project)  # a MigrationError names what is pending and the command to run
    if app.project.safe_mode:
        say(_safe_mode_note(app.project))
    http = app.project.config.project.http
    host, port = host or http.host, http.port if port is None else port
    sock = listen(host, port)  # a port in use is one line here, before anything starts
    port = sock.getsockname()[1]  # the one the system chose, for --port 0
    snapshot = app.registry.snapshot()
    serving = (
        f"serving {app.root.name} on http://{host}:{port} ({app.worker_mode} mode: "
        f"{len(snapshot.of('route'))} routes, {len(snapshot.of('subscriber'))} subscribers, {len(snapshot.of('job'))} jobs)"
    )
    # log_config=None: uvicorn's loggers go through the root logger loader set up (or the
    # project's); access_log=False: loader's own access log carries the request id.
    served = with_access_log(app.asgi, bool(logs and logs.access_log))
    config = server_config(
        served, http, host=host, port=port, timeout_graceful_shutdown=int(grace) or 1, log_config=None, access_log=False,
    )

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # said once the modules have started and requests are accepted
                say(serving)

    server = Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn shut down gracefully, then re-raised it
        sys.exit(130)
    if not server.started:
        sys.exit(1)


@cli.command()
@project_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=click.IntRange(0, 65535), help="Port to bind (default: project.http.port, 9000; 0: any free port).")
@clean_errors
def develop(project: Path, host: str, port: int | None) -> None:
    """Serve PROJECT and reload what you change while it runs (see docs/reload.md)."""
    from loader.config.env import env_bool
    from loader.config.loading import load_config, require_project
    from loader.dev.supervisor import Supervisor
    from loader.logs import configure_logging

    if env_bool("LOADER_LOG_CONFIG", default=True):
        configure_logging("warning", dated=False)  # the watcher's own; the child sets up the server's
    root = project.resolve()
    require_project(root)
    if port is None:
        try:
            port = load_config(root)[0].project.http.port
        except LoaderError:
            port = 9000  # the child reports the config error; the parent still serves and waits
    supervisor = Supervisor(root, host, port, echo=lambda line: out.print(line, markup=False, highlight=False))
    supervisor.run()


@cli.command()
@project_argument
@clean_errors
def openapi(project: Path) -> None:
    """Print the OpenAPI 3.1 document of PROJECT's routes as JSON (exit 1 if a file has errors)."""
    from loader.runtime.api_docs import project_version
    from loader.runtime.openapi import openapi_document, openapi_json

    loaded = _load_quietly(project)
    routes = loaded.registry.snapshot().of("route")
    document = openapi_document(routes, title=loaded.root.name, version=project_version(loaded.root))
    click.echo(openapi_json(document, indent=2).decode("utf-8"))
    if loaded.errors:
        err.print(f"[red]{len(loaded.errors)} error(s); their routes are not in the document:[/red]", markup=True)
        for error in loaded.errors:
            err.print(f"  {error.format()}", markup=False)
        sys.exit(1)


def _load_quietly(project: Path) -> Project:
    """Load a project for a command whose standard output is a document: what project files
    print while they import goes to standard error, so the document stays parseable."""
    with contextlib.redirect_stdout(sys.stderr):
        return load_project(project)


@cli.command()
@click.argument("project", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@clean_errors
def plugins(project: Path | None, as_json: bool) -> None:
    """List installed plugins; with PROJECT, also which ones it enables."""
    found = load_project(project).plugins if project else installed_plugins()
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in found], indent=2))
        return
    out.print(_plugin_table(found))


def _say(line: str) -> None:
    out.print(f"loader: {line}", markup=False)


def _say_in_json(line: str) -> None:
    # --log-format json: stderr holds only JSON lines, and what loader says is one of them
    logging.getLogger("loader.server").info(line)


def _safe_mode_note(project: Project) -> str:
    listed = len(project.config.plugins)
    return f"safe mode (LOADER_SAFE_MODE): no plugin loaded ({listed} listed in loader_config.py not loaded)"


def _print_inspect(project: Project) -> None:
    if project.safe_mode:
        out.print(_safe_mode_note(project), markup=False)
    resources = Table(title=f"Resources of {project.root}", title_justify="left", expand=False)
    for column in ("kind", "id", "source", "origin"):
        resources.add_column(column, no_wrap=True)
    resources.add_column("enabled", overflow="fold")
    for r in project.registry.list():
        enabled, reason = project.registry.state(r)
        state = "yes" if enabled else f"no: {reason}"
        resources.add_row(*map(escape, (r.kind, r.id, str(r.location), str(r.origin), state)))
    out.print(resources)

    flags = Table(title="Feature flags", title_justify="left")
    for column in ("key", "value", "source", "env_key", "defined at"):
        flags.add_column(column, overflow="fold")
    for f in project.flags.list():
        flags.add_row(*map(escape, (f.key, json.dumps(f.value), f.source, f.env_key or "", f.defined_at or "")))
    out.print(flags)
    out.print(_plugin_table(project.plugins))

    if project.errors:
        err.print(f"[red]{len(project.errors)} error(s):[/red]", markup=True)
        for error in project.errors:
            err.print(f"  {error.format()}", markup=False)
    else:
        out.print("No errors.")


def _plugin_table(plugins: list[Any]) -> Table:
    table = Table(title="Plugins", title_justify="left")
    for column in ("name", "distribution", "version", "requires loader", "compatible", "enabled"):
        table.add_column(column, overflow="fold")
    for p in plugins:
        compatible = {True: "yes", False: "no", None: "not declared"}[p.compatible]
        enabled = "yes" if p.enabled else ("error" if p.error else "no")
        table.add_row(*map(escape, (p.name, p.distribution, p.version, p.requirement or "", compatible, enabled)))
    return table


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``loader`` console script."""
    try:
        cli.main(args=argv, prog_name="loader", standalone_mode=True)
    except SystemExit as exit:
        return int(exit.code or 0)
    return 0

from loader.db.cli import db as _db_commands  # noqa: E402
cli.add_command(_db_commands)
