"""The parent and a child that speaks another protocol version: a clear line, no traceback."""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from loader.dev.channel import ChildReady, ProtocolError, from_wire, to_wire
from loader.dev.supervisor import Supervisor


def _send_from_another_version(conn: Connection) -> None:
    conn.send({"v": 99, "type": "child-ready", "pid": 1})
    conn.recv()  # stay alive until the parent closes its end


def test_from_wire_refuses_other_versions_and_unknown_types() -> None:
    assert from_wire(to_wire(ChildReady(7))) == ChildReady(7)
    with pytest.raises(ProtocolError, match="version 99"):
        from_wire({"v": 99, "type": "child-ready"})
    with pytest.raises(ProtocolError, match="unknown dev server message type 'nope'"):
        from_wire({**to_wire(ChildReady(7)), "type": "nope"})


def test_the_supervisor_reports_a_child_of_another_version_and_treats_it_as_gone(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    lines: list[str] = []
    supervisor = Supervisor(tmp_path, "127.0.0.1", 0, echo=lines.append, warm_spare=False)
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    child = context.Process(target=_send_from_another_version, args=(child_end,))
    child.start()
    try:
        supervisor._child, supervisor._conn = child, parent_end
        assert supervisor._receive(timeout=30) is None
        assert lines == ["error: the server child sent what this loader cannot read "
                         "(dev server protocol version 99; expected 2); restarting it"]
    finally:
        parent_end.close()
        child.join(10)
        supervisor.socket.close()
