"""kubeproc.agent.instances.PodRecord's sandbox record: what a worker writes is what it reads
back (from memory after the first read), dropping or removing it reads as no sandbox, and a
fresh record (an agent restart) reads the file."""

from __future__ import annotations

import pytest

from kubeproc.agent.instances import PodRecord


@pytest.mark.parametrize("steps, want", [
    ([], None),
    ([("write", 0, "10.0.0.2")], (0, "10.0.0.2")),
    ([("write", 0, "10.0.0.2"), ("write", 1, "10.0.0.3")], (1, "10.0.0.3")),
    ([("write", 0, "10.0.0.2"), ("drop",)], None),
    ([("write", 0, "10.0.0.2"), ("remove",)], None),
    ([("write", 0, "10.0.0.2"), ("drop",), ("write", 2, "10.0.0.4")], (2, "10.0.0.4")),
], ids=["none-yet", "written", "rewritten", "dropped", "pod-removed", "recreated"])
def test_sandbox_record(tmp_path, steps, want) -> None:
    rec = PodRecord(str(tmp_path), "uid-1")
    assert rec.sandbox() is None  # read (and remembered) before anything was written
    for step in steps:
        if step[0] == "write":
            rec.write_sandbox(step[1], step[2])
        elif step[0] == "drop":
            rec.drop_sandbox()
        else:
            rec.remove()
    for reader in (rec, PodRecord(str(tmp_path), "uid-1")):  # this worker's, then a restarted agent's
        sb = reader.sandbox()
        assert (None if sb is None else (sb.attempt, sb.ip)) == want
        assert sb is None or (sb.id, sb.ready) == ("uid-1", True)
