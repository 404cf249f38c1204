"""The `command` decorator marks a function; CommandKind collects the marked ones, and its
binding puts them in the container as ``commands`` (name → function) at boot and on reload."""

from loader import BaseBinding, BaseKind, defined_in, line_of

COMMAND_ATTR = "__loader_command__"


def command(*, name):
    """Mark a function as the command `name`. Marking only: the kind collects it."""

    def mark(func):
        setattr(func, COMMAND_ATTR, name)
        return func

    return mark


class CommandBinding(BaseBinding):
    """Commands → ``container.resolve("commands")``, replaced whole on every change."""

    kinds = frozenset({"command"})

    def commit(self, runtime, change):
        commands = {r.id: r.obj for r in change.snapshot.of("command")}
        runtime.container.register("commands", commands, source="loader-plugin-commands", replace=True)


class CommandKind(BaseKind):
    name = "command"
    folder = "commands"  # in src/ and in every enabled plugin, like subscribers/
    binding = CommandBinding()

    def collect(self, module, source):
        resources = []
        # defined_in skips commands imported from another file: each is collected once.
        for export, func in defined_in(module, lambda o: callable(o) and hasattr(o, COMMAND_ATTR)):
            name, line = getattr(func, COMMAND_ATTR), line_of(func)
            if not isinstance(name, str) or not name:
                raise self.invalid(source, line, f'command {export}() needs a name: @command(name="seed")')
            resources.append(self.resource(source, name, func, export, line))
        return resources
