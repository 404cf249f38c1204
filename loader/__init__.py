"""loader: a project folder and pip-installed plugins, turned into a running Python backend.

This module is the only supported import path; everything else is internal and may move.
"""

import importlib
from typing import TYPE_CHECKING, Any

from loader.config.loading import define_config
from loader.config.models import LoaderConfig
from loader.core.file_config import define_file_config
from loader.core.flags import FeatureFlag, FlagSettings
from loader.core.registry import Registry, Snapshot
from loader.discovery.plugins import PluginInfo
from loader.errors import (
    ConfigError,
    MigrationError,
    DiscoveryError,
    DuplicateResourceError,
    FeatureFlagError,
    LoaderError,
    LoaderWarning,
    PluginLoadError,
    ReloadError,
    ResourceImportError,
    ImportTimeoutError,
    ResourceValidationError,
)
from loader.hookspecs import hookimpl
from loader.kinds.base import BaseBinding, BaseKind, Binding, KindChange, ResourceKind, Runtime, defined_in, line_of
from loader.kinds.jobs import job
from loader.kinds.middlewares import MiddlewareRoute, define_middlewares
from loader.kinds.migrations import Migration
from loader.kinds.modules import Module, ModuleProvider
from loader.kinds.subscribers import subscriber
from loader.kinds.workflows import StepResponse, create_step, create_workflow
from loader.project import Project, load_project
from loader.runtime.workflow_context import PermanentStepFailure, WorkflowResult
from loader.runtime.workflows.engine import WorkflowEngine, WorkflowEvent
from loader.runtime.workflows.errors import WorkflowDeterminismError, WorkflowError, WorkflowExecutionError
from loader.runtime.workflows.execution import Execution, NonSerializableCheckpointError, StepRecord
from loader.runtime.workflows.runner import parallel
from loader.runtime.workflows.states import ExecutionState, IllegalTransitionError, StepState, StepStatus
from loader.types import Origin, Resource, Root, SourceFile, SourceLocation

__version__ = "0.1.0"

if TYPE_CHECKING:
    from loader.dev.plan import FileChange
    from loader.runtime.application import Application
    from loader.runtime.container import Container
    from loader.runtime.report import ReloadReport

# The runtime (Starlette, SQLAlchemy, uvicorn…) loads on first use: project files import
# `loader` for its markers, and discovery (`loader inspect`) never needs a server.
_LAZY = {
    "Application": "loader.runtime.application",
    "Container": "loader.runtime.container",
    "ReloadReport": "loader.runtime.report",
    "FileChange": "loader.dev.plan",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'loader' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

__all__ = [
    # project files
    "define_config",
    "define_file_config",
    "define_middlewares",
    "MiddlewareRoute",
    "FlagSettings",
    "FeatureFlag",
    "subscriber",
    "job",
    "create_step",
    "create_workflow",
    "StepResponse",
    "WorkflowResult",
    "parallel",
    "PermanentStepFailure",
    "WorkflowEngine",
    "WorkflowEvent",
    "WorkflowError",
    "WorkflowExecutionError",
    "WorkflowDeterminismError",
    "NonSerializableCheckpointError",
    "IllegalTransitionError",
    "Execution",
    "StepRecord",
    "ExecutionState",
    "StepState",
    "StepStatus",
    "Module",
    "ModuleProvider",
    "Migration",
    # programmatic API
    "Application",
    "Container",
    "ReloadReport",
    "FileChange",
    "load_project",
    "Project",
    "LoaderConfig",
    "Registry",
    "Snapshot",
    "Resource",
    "SourceFile",
    "SourceLocation",
    "Root",
    "Origin",
    "PluginInfo",
    # plugins
    "hookimpl",
    "ResourceKind",
    "BaseKind",
    "BaseBinding",
    "Binding",
    "KindChange",
    "Runtime",
    "defined_in",
    "line_of",
    # errors
    "LoaderError",
    "ConfigError",
    "FeatureFlagError",
    "DiscoveryError",
    "ResourceImportError",
    "ImportTimeoutError",
    "ResourceValidationError",
    "DuplicateResourceError",
    "PluginLoadError",
    "ReloadError",
    "MigrationError",
    "LoaderWarning",
]
