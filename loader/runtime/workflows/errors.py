"""Errors of the workflow engine (``NonSerializableCheckpointError`` and ``IllegalTransitionError``
live beside the record and the state tables they guard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loader.errors import LoaderError

if TYPE_CHECKING:
    from loader.runtime.workflow_context import WorkflowResult

__all__ = ["WorkflowError", "WorkflowDeterminismError", "WorkflowExecutionError"]


class WorkflowError(LoaderError):
    """A request the engine refuses: unknown workflow or execution, one already running, a step not waiting…"""


class WorkflowDeterminismError(WorkflowError):
    """The workflow called a step at a position where the record holds another step."""


class WorkflowExecutionError(LoaderError):
    """``run(..., throw_on_error=True)`` of an execution that failed; ``result`` holds the details."""

    def __init__(self, message: str, result: WorkflowResult) -> None:
        super().__init__(message)
        self.result = result
