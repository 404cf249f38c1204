"""A built-in command: every project that enables the plugin has it."""

import loader
from loader_plugin_commands import command


@command(name="version")
async def version(container):
    return loader.__version__
