"""The ``sql`` workflow storage provider: executions in the project's database.

Select it in ``loader_config.py`` and create its tables with ``loader db migrate``::

    modules={"workflow_engine": {"providers": [{"resolve": "sql", "id": "sql", "is_default": True}]}}
"""

from loader.builtin.modules.workflow_engine.providers.sql.storage import SqlWorkflowStorage
from loader.kinds.modules import ModuleProvider

provider = ModuleProvider(service=SqlWorkflowStorage)
