"""loader-plugin-commands: adds the `command` kind, found in `commands/` of every root.

    from loader_plugin_commands import command

    @command(name="seed")
    async def seed(container): ...
"""

from loader import hookimpl
from loader_plugin_commands.kind import CommandKind, command

__all__ = ["command", "CommandKind"]


@hookimpl
def loader_register_kinds():
    return [CommandKind()]
