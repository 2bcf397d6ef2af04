"""The container monitor holds pods' namespaces (nsholder.MonitorHolder over real runc): a held
netns outlives the fd and thread that made it, a container joins it by its /proc/PID/fd/N
path, the host gets no mount for it, the monitor stays for held namespaces when the agent leaves
and a new agent finds them; a bad path is refused and holds nothing. The harness fixture
asserts the monitor is gone at the end."""

from __future__ import annotations

import os

import pytest

from kubeproc.agent.network import netns
from kubeproc.agent.nsholder import MonitorHolder
from kubeproc.agent.runtime.protocol import RuntimeError_
from kubeproc.agent.runtime.monitorclient import wait_pid
from kubeproc.agent.runtime.runc import RuncRuntime, monitor_pids


def _new_netns() -> int:
    """An fd of a fresh netns (made in a throwaway thread)."""
    return netns.run_in_thread(netns.unshare_and_open)


def _mountinfo() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_a_held_netns_is_joined_by_a_container_and_survives_the_agent(harness) -> None:
    mounts_before = _mountinfo().count("nsfs")

    async def go():
        holder = MonitorHolder(harness.rt)
        await holder.load()
        fd = _new_netns()
        try:
            ino = os.fstat(fd).st_ino
            paths = await holder.hold({"u1.net": fd})
        finally:
            os.close(fd)  # the monitor's fd keeps it now
        path = paths["u1.net"]
        mon = harness.rt.monitor.pid
        assert path.startswith(f"/proc/{mon}/fd/") and holder.path("u1.net") == path
        assert os.stat(path).st_ino == ino
        ex, text = await harness.run("join", ("readlink", "/proc/self/ns/net"), netns=path)
        assert ex.exit_code == 0 and f"net:[{ino}]" in text
        nsfs_mounts = _mountinfo().count("nsfs")

        await harness.rt.close()  # the agent goes (bye): the held netns keeps the monitor
        assert monitor_pids(harness.rt.root) == [mon]
        again = RuncRuntime(harness.rt.root)
        harness.rt = again
        found = MonitorHolder(again)
        await found.load()
        assert found.keys() == {"u1.net"} and found.path("u1.net") == path
        await found.release(["u1.net"])
        assert found.keys() == set() and (await again.pinned())[1] == {}
        return nsfs_mounts

    nsfs_mounts = harness.go(go())
    assert nsfs_mounts == mounts_before  # no bind mount on the host for the pod's netns


def test_a_path_that_cannot_be_opened_is_refused_and_nothing_is_held(harness) -> None:
    async def go():
        holder = MonitorHolder(harness.rt)
        await holder.load()
        fd = _new_netns()
        try:
            with pytest.raises(RuntimeError_, match="No such file"):
                await harness.rt.pin({"a.net": f"/proc/{os.getpid()}/fd/{fd}", "b.net": "/nonexistent"})
        finally:
            os.close(fd)
        assert (await harness.rt.pinned())[1] == {} and holder.keys() == set()

    harness.go(go())


def test_the_holder_forgets_a_namespace_whose_monitor_died(harness, monkeypatch) -> None:
    stats: list[str] = []
    real_stat = os.stat

    def counting_stat(path, *a, **kw):
        stats.append(str(path))
        return real_stat(path, *a, **kw)
    monkeypatch.setattr(os, "stat", counting_stat)

    async def go():
        holder = MonitorHolder(harness.rt)
        await holder.load()
        fd = _new_netns()
        try:
            held = await holder.hold({"u2.net": fd})
        finally:
            os.close(fd)
        pid = harness.rt.monitor.pid
        # while the monitor that pinned it lives, the answer needs no stat of its /proc fd
        assert holder.path("u2.net") == held["u2.net"]
        assert not [p for p in stats if p.startswith(f"/proc/{pid}/fd/")]
        os.kill(pid, 9)
        await wait_pid(pid, 10)
        assert holder.path("u2.net") is None and holder.keys() == set()
        harness.rt.monitor.remove_stale_socket()

    harness.go(go())
