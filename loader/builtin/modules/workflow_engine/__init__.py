"""The built-in ``workflow_engine`` module: ``container.resolve("workflow_engine")`` runs workflows.

Its provider is where executions are kept. With none configured it uses ``memory`` (in this
process; nothing survives a restart). A durable ``sql`` provider (the project's database) is to
come and will then be the default. Choosing one in config, like any module's::

    modules={"workflow_engine": {"providers": [{"resolve": "loader.builtin.modules.workflow_engine.providers.memory", "id": "memory"}]}}
"""

from loader.kinds.modules import Module
from loader.runtime.workflows.engine import WorkflowEngine

module = Module("workflow_engine", service=WorkflowEngine)
