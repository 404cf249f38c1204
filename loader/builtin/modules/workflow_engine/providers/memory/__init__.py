"""The ``memory`` workflow storage provider: executions kept in this process only."""

from loader.kinds.modules import ModuleProvider
from loader.runtime.workflows.storage import MemoryWorkflowStorage

provider = ModuleProvider(service=MemoryWorkflowStorage)
