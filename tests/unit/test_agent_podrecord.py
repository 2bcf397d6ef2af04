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


def _make_bundle(rec: PodRecord, name: str, attempt: int) -> str:
    import os
    bdir = rec.bundle(name, attempt)
    os.makedirs(bdir)
    return bdir


def _states(rec: PodRecord, running: set[str]) -> dict[str, tuple[str, int | None]]:
    return {c.id: (c.state, c.exit_code if c.state == "exited" else None)
            for c in rec.observe(running, {})}


def test_observe_keeps_only_what_cannot_change(tmp_path) -> None:
    """observe() remembers exited instances and started ones the agent still watches; an exit
    recorded by the monitor shows once the agent stops watching, a bundle made after a listing
    shows once it is started, and removals drop what was remembered."""
    import datetime as dt

    from kubeproc.agent.runtime.monitorfiles import write_exit

    rec = PodRecord(str(tmp_path), "uid-1")
    at = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    b0 = _make_bundle(rec, "c", 0)
    cid0 = rec.container_id("c", 0)
    assert _states(rec, set()) == {cid0: ("unknown", None)}  # made, not started, not watched
    rec.mark_started(b0, at)
    assert _states(rec, {cid0}) == {cid0: ("running", None)}
    write_exit(b0, 42, 1 << 8, False, 1_700_000_000_000_000_000)  # the monitor records exit 1
    # still watched: what was read stands (the agent learns the exit from its wait, then syncs)
    assert _states(rec, {cid0}) == {cid0: ("running", None)}
    assert _states(rec, set()) == {cid0: ("exited", 1)}
    # a listing taken before the next instance's bundle exists does not hide it once started
    b1 = rec.bundle("c", 1)
    assert set(_states(rec, set())) == {cid0}
    import os
    os.makedirs(b1)
    rec.mark_started(b1, at)
    cid1 = rec.container_id("c", 1)
    assert _states(rec, {cid1}) == {cid0: ("exited", 1), cid1: ("running", None)}
    # the agent's own exit record (a lost container) replaces what was kept
    rec.write_exit(b1, 137, "lost", at)
    assert _states(rec, set()) == {cid0: ("exited", 1), cid1: ("exited", 137)}
    for n in range(2, 4):
        rec.mark_started(_make_bundle(rec, "c", n), at)
    assert rec.prune("c") == [cid0, cid1]
    assert set(_states(rec, set())) == {rec.container_id("c", 2), rec.container_id("c", 3)}
    rec.remove()
    assert _states(rec, set()) == {}
    # a restarted agent's record reads the disk
    assert _states(PodRecord(str(tmp_path), "uid-1"), set()) == {}
