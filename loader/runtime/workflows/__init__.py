"""The workflow engine: states and transitions, the execution record, storage, the engine."""
