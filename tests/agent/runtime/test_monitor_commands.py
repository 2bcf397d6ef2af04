"""Short runc commands through the container monitor (monitorcmd.py) with real runc: once the
monitor is connected, kill (no --all), state, list and delete spawn nothing from the agent; a
signal goes to the container's init with runc kill's outcomes (stopped: "container not
running"); an unknown container still answers like runc; without a monitor the agent spawns runc
itself. The harness fixture asserts nothing is left behind."""

from __future__ import annotations

import asyncio
import signal

import pytest

from kubeproc.agent.runtime.protocol import ContainerNotFound, RuntimeError_


def _no_spawn(harness) -> list[tuple[str, ...]]:
    """Make the agent-side spawn path record and fail: only the monitor may run runc."""
    spawned: list[tuple[str, ...]] = []

    async def spawn(argv: tuple[str, ...]) -> tuple[int, bytes, bytes]:
        spawned.append(argv)
        raise AssertionError(f"spawned from the agent: {argv}")
    harness.rt._spawn = spawn
    return spawned


def test_kill_state_list_delete_go_through_the_monitor(harness) -> None:
    async def go():
        cid, bdir, log = harness.prepare("mon", ("sleep", "1000"))
        await harness.rt.run(bdir, cid, log)
        spawned = _no_spawn(harness)
        st = await harness.rt.state(cid)
        listed = [c.id for c in await harness.rt.list()]
        await harness.rt.kill(cid, signal.SIGKILL)
        ex = await harness.rt.wait_exit(cid, 10)
        with pytest.raises(RuntimeError_, match="not running"):
            await harness.rt.kill(cid, signal.SIGTERM)  # as runc kill on a stopped container
        await harness.rt.delete(cid)
        with pytest.raises(ContainerNotFound):
            await harness.rt.state(cid)
        return st, listed, ex, spawned
    st, listed, ex, spawned = harness.go(go())
    assert st.status == "running" and st.pid > 0 and harness.cid("mon") in listed
    assert (ex.exit_code, ex.signal) == (137, 9)
    assert spawned == []


def test_a_trapped_sigterm_reaches_the_init(harness) -> None:
    async def go():
        cid, bdir, log = harness.prepare("trap", ("sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done"))
        await harness.rt.run(bdir, cid, log)
        for _ in range(200):  # the trap is set once the shell printed
            with open(log) as f:
                if "ready" in f.read():
                    break
            await asyncio.sleep(0.02)
        _no_spawn(harness)
        await harness.rt.kill(cid, signal.SIGTERM)
        ex = await harness.rt.wait_exit(cid, 10)
        await harness.rt.delete(cid)
        return ex
    assert harness.go(go()).exit_code == 7


def test_without_a_monitor_the_agent_runs_runc_itself(harness) -> None:
    async def go():
        assert not harness.rt.monitor.connected()
        with pytest.raises(ContainerNotFound):
            await harness.rt.state(harness.cid("nothing"))
        return await harness.rt.list()
    assert harness.go(go()) == []


def test_the_monitor_runs_runc_with_one_go_processor(harness, tmp_path) -> None:
    """`runc run` is spawned with GOMAXPROCS=1 (runc hands it to its init, not to the
    container): a stand-in runc records the environment it was given."""
    seen = tmp_path / "env"
    fake = tmp_path / "runc"
    fake.write_text(f"#!/bin/sh\nenv > {seen}\nexit 3\n")
    fake.chmod(0o755)

    async def go():
        cid, bdir, log = harness.prepare("envcheck", ("true",))
        real, harness.rt.runc = harness.rt.runc, str(fake)
        try:
            with pytest.raises(RuntimeError_):
                await harness.rt.run(bdir, cid, log)
        finally:
            harness.rt.runc = real
    harness.go(go())
    assert "GOMAXPROCS=1" in seen.read_text().split("\n")
