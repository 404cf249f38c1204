"""The built-in ``workflow_engine`` module: ``container.resolve("workflow_engine")`` runs workflows.

Its provider is where executions are kept. With none configured it uses ``memory`` (in this
process; nothing survives a restart). ``sql`` keeps them in the project's database (its tables
by the provider's migration, ``loader db migrate``). Choosing one in config, by its bare name::

    modules={"workflow_engine": {"providers": [{"resolve": "sql", "id": "sql", "is_default": True}]}}
"""

from loader.kinds.modules import Module
from loader.runtime.workflows.engine import WorkflowEngine

module = Module("workflow_engine", service=WorkflowEngine)
