"""Creates the tables of the ``sql`` workflow storage (``loader_workflow_executions``, ``loader_workflow_steps``).

A frozen copy of the schema in ``providers/sql/tables.py`` as it was when this migration was
written (a later change to the tables is a new migration, and this one must keep creating what
it created). Composite primary keys, no sequences: the same DDL runs on SQLite and PostgreSQL.
``checkfirst``: a provider listed under another id records this migration again under that id
(``workflow_engine/<id>``) and must not fail on the tables it already finds.
"""

from typing import Any

from sqlalchemy import Boolean, Column, Double, Index, Integer, MetaData, String, Table, Text

from loader import Migration


def _tables() -> MetaData:
    metadata = MetaData()
    Table(
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
    Table(
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
    return metadata


class Migration20261206120000(Migration):
    def up(self, db: Any) -> None:
        _tables().create_all(db, checkfirst=True)

    def down(self, db: Any) -> None:
        _tables().drop_all(db, checkfirst=True)
