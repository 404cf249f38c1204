"""loader-plugin-commands: adds the `command` kind, found in `commands/` of every root.

    from loader_plugin_commands import command

    @command(name="seed")
    async def seed(container): ...
"""

from loader import hookimpl
from loader_plugin_commands.kind import CommandKind, command

__all__ = ["command", "CommandKind", "SWAPS"]

#: What ``loader_resources_swapped`` told this plugin, newest last: (boot, added ids, removed ids).
SWAPS = []


@hookimpl
def loader_register_kinds():
    return [CommandKind()]


@hookimpl
def loader_resources_swapped(added, removed, boot, registry):
    SWAPS.append((boot, sorted(r.id for r in added), sorted(r.id for r in removed)))
