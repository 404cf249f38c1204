"""The `greeter` module: a plugin's modules are found like the project's."""

from loader import Module
from loader_plugin_greetings.modules.greeter.service import GreeterService

module = Module("greeter", service=GreeterService)
