"""The ``local`` event bus provider: in-process delivery with asyncio tasks."""

from loader.kinds.modules import ModuleProvider
from loader.runtime.events import LocalEventBus

provider = ModuleProvider(service=LocalEventBus)
