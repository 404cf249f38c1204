"""The built-in ``event_bus`` module: the container's ``event_bus``, backed by a provider.

With no provider configured it uses the in-process ``local`` provider. Another provider (a
Redis one, say) is chosen in config like any module's::

    modules={"event_bus": {"providers": [{"resolve": "my_package.redis_bus", "id": "redis"}]}}
"""

from loader.kinds.modules import Module
from loader.builtin.modules.event_bus.service import EventBusService

module = Module("event_bus", service=EventBusService)
