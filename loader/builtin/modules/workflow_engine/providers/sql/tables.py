"""The two tables of the ``sql`` workflow storage, as SQLAlchemy Core tables.

``loader_workflow_executions``: one row per (workflow, transaction id); the fixed columns are
written once, the progress columns and ``revision`` at each checkpoint. ``loader_workflow_steps``:
one row per step call, keyed by (workflow, transaction id, position); ``seq`` keeps call order
(positions such as ``"10"`` and ``"2.0.0"`` do not sort as text). Names and ids are
unbounded ``String()`` (VARCHAR without a length on PostgreSQL). JSON values are kept as text,
which SQLite and PostgreSQL both store as is; timestamps are seconds since the epoch (``Double``),
so a record reads back equal to the one written. The composite primary keys need no sequence,
so the same DDL runs on both databases.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Double, Index, Integer, MetaData, String, Table, Text

__all__ = ["metadata", "EXECUTIONS", "STEPS", "define"]


def define(metadata: MetaData) -> tuple[Table, Table]:
    """The two tables on ``metadata`` (the migration defines them on its own metadata)."""
    executions = Table(
        "loader_workflow_executions",
        metadata,
        Column("workflow", String(), primary_key=True),
        Column("transaction_id", String(), primary_key=True),
        Column("version", String(), nullable=False),
        Column("input", Text, nullable=False),
        Column("created_at", Double, nullable=False),
        Column("state", String(32), nullable=False),
        Column("result", Text, nullable=False),
        Column("errors", Text, nullable=False),
        Column("cancelled", Boolean, nullable=False),
        Column("updated_at", Double, nullable=False),
        Column("revision", Integer, nullable=False),
        Index("loader_workflow_executions_state", "state"),
    )
    steps = Table(
        "loader_workflow_steps",
        metadata,
        Column("workflow", String(), primary_key=True),
        Column("transaction_id", String(), primary_key=True),
        Column("position", String(), primary_key=True),
        Column("seq", Integer, nullable=False),
        Column("name", String(), nullable=False),
        Column("state", String(32), nullable=False),
        Column("status", String(32), nullable=False),
        Column("compensate_state", String(32), nullable=False),
        Column("compensate_status", String(32), nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("awaiting_retries", Integer, nullable=False, server_default="0"),
        Column("output", Text, nullable=False),
        Column("compensate_input", Text, nullable=False),
        Column("error", Text),
        Column("compensate_error", Text),
        Column("started_at", Double),
        Column("finished_at", Double),
    )
    return executions, steps


metadata = MetaData()
EXECUTIONS, STEPS = define(metadata)
