"""RuncRuntime with real runc: CRI logs, exit codes (exit, SIGTERM, SIGKILL, OOM), shared netns,
hostname, read-only host view, writable layer discarded on restart, adoption by a new runtime
instance (agent restart), and nothing left behind (the harness fixture asserts it)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid

import pytest

from kubeproc.agent.runtime import bundle
from kubeproc.agent.runtime.runc import RuncRuntime, shim_pid, wait_pid

CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


def cri(text: str) -> list[tuple[str, str, str]]:
    out = []
    for line in text.splitlines():
        m = CRI_LINE.match(line)
        assert m, f"not a CRI log line: {line!r}"
        out.append((m.group(1), m.group(2), m.group(3)))
    return out


def messages(text: str) -> list[str]:
    return [msg for _, _, msg in cri(text)]


def test_exit_code_and_cri_logs(harness) -> None:
    ex, log = harness.go(harness.run("echo", ("sh", "-c", "echo out; echo err >&2; printf tail; exit 3")))
    assert (ex.exit_code, ex.signal, ex.oom_killed, ex.unknown) == (3, 0, False, False)
    assert cri(log) == [("stdout", "F", "out"), ("stderr", "F", "err"), ("stdout", "F", "tail")]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$", ex.finished_at)


def test_sleep_as_pid1_ignores_sigterm_and_dies_by_sigkill_137(harness) -> None:
    # PID 1 of a pid namespace gets no default signal action (kernel rule; Kubernetes users meet
    # it as a 30 s delete): SIGTERM is dropped, only SIGKILL ends it.
    async def go():
        cid, _, _ = await harness.create("sleep", ("sleep", "1000"))
        await harness.rt.start(cid)
        assert (await harness.rt.state(cid)).status == "running"
        await harness.rt.kill(cid, 15)
        with pytest.raises(asyncio.TimeoutError):
            await harness.rt.wait_exit(cid, 0.3)
        assert (await harness.rt.state(cid)).status == "running"
        await harness.rt.kill(cid, 9)
        ex = await harness.rt.wait_exit(cid, 10)
        assert (await harness.rt.state(cid)).status == "stopped"
        await harness.rt.delete(cid)
        return ex
    ex = harness.go(go())
    assert (ex.exit_code, ex.signal, ex.oom_killed) == (137, 9, False)


def test_sleep_killed_by_sigterm_reports_143(harness) -> None:
    # sleep under a shell init: `runc kill --all` TERMs it, the shell exits with its status
    async def go():
        cid, _, _ = await harness.create("term", ("sh", "-c", "sleep 1000 & wait $!"))
        await harness.rt.start(cid)
        await harness.rt.kill(cid, 15, all=True)
        ex = await harness.rt.wait_exit(cid, 10)
        await harness.rt.delete(cid)
        return ex
    ex = harness.go(go())
    assert (ex.exit_code, ex.signal) == (143, 0)


def test_trapped_sigterm_exit_code(harness) -> None:
    async def go():
        cid, _, _ = await harness.create("trap", ("sh", "-c", "trap 'echo bye; exit 143' TERM; echo ready; sleep 1000 & wait"))
        await harness.rt.start(cid)
        await harness.rt.kill(cid, 15)
        ex = await harness.rt.wait_exit(cid, 10)
        await harness.rt.delete(cid)
        return ex
    ex = harness.go(go())
    assert ex.exit_code == 143


def test_two_containers_share_a_network_namespace(harness) -> None:
    name = f"kp-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "addr", "add", "10.253.77.1/32", "dev", "lo"], check=True)
        path = f"/var/run/netns/{name}"
        a = harness.go(harness.run("net-a", ("ip", "-o", "addr"), netns=path))
        b = harness.go(harness.run("net-b", ("ip", "-o", "addr"), netns=path))
        own = harness.go(harness.run("net-own", ("ip", "-o", "addr")))
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)
    assert a[0].exit_code == 0 and b[0].exit_code == 0
    assert messages(a[1]) == messages(b[1])
    assert any("10.253.77.1/32" in m for m in messages(a[1]))
    assert not any("10.253.77.1/32" in m for m in messages(own[1]))  # no path: a new, empty netns


def test_hostname_user_and_default_capabilities(harness) -> None:
    ex, log = harness.go(harness.run(
        "who", ("sh", "-c", "hostname; id -u; id -g; id -G; grep CapBnd /proc/self/status"),
        hostname="web-0", uid=1000, gid=1001, supplementary_groups=(2000,)))
    assert ex.exit_code == 0
    # 0xa80425fb: Docker's/containerd's 14 default capabilities
    assert messages(log) == ["web-0", "1000", "1001", "1001 2000", "CapBnd:\t00000000a80425fb"]


def test_capabilities_drop_all_add_one(harness) -> None:
    ex, log = harness.go(harness.run("caps", ("grep", "CapBnd", "/proc/self/status"),
                                      cap_drop=("ALL",), cap_add=("NET_BIND_SERVICE",)))
    assert messages(log) == ["CapBnd:\t0000000000000400"]


def test_host_view_is_read_only_and_secrets_are_masked(harness) -> None:
    ex, log = harness.go(harness.run("ro", (
        "sh", "-c", "touch /usr/kp-x 2>&1; touch /etc/kp-x 2>&1; wc -c < /etc/shadow; touch /tmp/ok && echo tmp-ok")))
    msgs = messages(log)
    assert "Read-only file system" in msgs[0] and "Read-only file system" in msgs[1]
    assert msgs[2:] == ["0", "tmp-ok"]
    assert not os.path.exists("/usr/kp-x") and not os.path.exists("/etc/kp-x")


def test_readonly_rootfs_refuses_writes_to_tmp(harness) -> None:
    ex, log = harness.go(harness.run("rorf", ("sh", "-c", "touch /tmp/x"), readonly_rootfs=True))
    assert ex.exit_code != 0
    assert "Read-only file system" in log


def test_writable_layer_is_discarded_on_restart(harness) -> None:
    first, log1 = harness.go(harness.run("tmp", ("sh", "-c", "touch /tmp/marker /root/m; ls -A /tmp")))
    second, log2 = harness.go(harness.run("tmp", ("sh", "-c", "ls -A /tmp /root; echo end")))
    assert messages(log1) == ["marker"]
    assert messages(log2) == ["/root:", "", "/tmp:", "end"]


def test_memory_limit_oom_kills_with_137(harness) -> None:
    ex, log = harness.go(harness.run(
        "oom", ("python3", "-c", "x = 'x' * (400 << 20); print('survived')"),
        resources=bundle.Resources(memory_limit=64 << 20)))
    assert (ex.exit_code, ex.signal, ex.oom_killed) == (137, 9, True)
    assert "survived" not in log


def test_limits_land_in_the_cgroup(harness) -> None:
    async def go():
        cid, _, _ = await harness.create("limits", ("sleep", "1000"), resources=bundle.Resources(
            memory_limit=128 << 20, cpu_quota=50000, cpu_period=100000, pids_limit=64))
        rel = f"{harness.cgroup_parent}/{cid}".lstrip("/")
        got = {}
        for ctrl, f in (("memory", "memory.limit_in_bytes"), ("cpu", "cpu.cfs_quota_us"), ("pids", "pids.max")):
            with open(os.path.join("/sys/fs/cgroup", ctrl, rel, f)) as fh:
                got[f] = fh.read().strip()
        await harness.rt.delete(cid, force=True)
        return got
    got = harness.go(go())
    assert got == {"memory.limit_in_bytes": str(128 << 20), "cpu.cfs_quota_us": "50000", "pids.max": "64"}


def test_a_new_runtime_instance_adopts_a_running_container(harness) -> None:
    # the agent was kill -9'd: a new RuncRuntime over the same state root finds the container,
    # the shim kept logging, and the exit code is still observed
    async def go():
        cid, _, log = await harness.create("adopt", ("sh", "-c", "echo before; sleep 1000; echo never"))
        await harness.rt.start(cid)
        again = RuncRuntime(harness.rt.root)
        listed = {s.id: s.status for s in await again.list()}
        await again.kill(cid, 9)
        ex = await again.wait_exit(cid, 10)
        st = await again.state(cid)
        await again.delete(cid)
        with open(log) as f:
            return listed, ex, st, f.read()
    listed, ex, st, log = harness.go(go())
    assert listed == {harness.cid("adopt"): "running"}
    assert (ex.exit_code, ex.signal) == (137, 9)
    assert st.status == "stopped" and st.exit == ex
    assert messages(log) == ["before"]


def test_create_failure_reports_runc_error(harness) -> None:
    from kubeproc.agent.runtime.protocol import RuntimeError_

    async def go():
        cid, _, _ = await harness.create("missing", ("/no/such/program",))
        await harness.rt.start(cid)
    with pytest.raises(RuntimeError_, match="no such file|not found|executable"):
        harness.go(go())


AGENT = """
import asyncio, sys
from kubeproc.agent.runtime.runc import RuncRuntime, shim_pid, wait_pid
async def main(root, bundle, cid, log):
    rt = RuncRuntime(root)
    await rt.create(bundle, cid, log)
    await rt.start(cid)
    print("started", flush=True)
    await asyncio.Event().wait()
asyncio.run(main(*sys.argv[1:]))
"""


def children(pid: int) -> list[int]:
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/children") as f:
            out += [int(c) for c in f.read().split()]
    return out


def test_containers_survive_kill_9_of_the_agent_and_keep_their_exit_code(harness, tmp_path) -> None:
    go = tmp_path / "go"
    cid, bdir, log = harness.prepare("survive", (
        "sh", "-c", "echo before; while [ ! -e /w/go ]; do sleep 0.01; done; echo after; exit 7"),
        mounts=(bundle.Mount(str(tmp_path), "/w", ("rbind", "ro")),))
    agent = subprocess.Popen([sys.executable, "-c", AGENT, harness.rt.root, bdir, cid, log],
                             stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                 os.path.dirname(os.path.abspath(__file__))))))
    try:
        assert agent.stdout.readline().strip() == "started"
        helpers = children(agent.pid)  # the agent's shim zygote
        assert len(helpers) == 1
    finally:
        agent.kill()  # SIGKILL: no cleanup runs in the agent
        agent.wait()
    for pid in helpers:  # the zygote sees EOF on its request pipe and exits by itself
        harness.go(wait_pid(pid, 10))

    async def adopt():
        rt = RuncRuntime(harness.rt.root)  # the restarted agent
        listed = [(s.id, s.status) for s in await rt.list()]
        go.write_text("")
        ex = await rt.wait_exit(cid, 10)
        await rt.delete(cid)
        return listed, ex
    listed, ex = harness.go(adopt())
    assert listed == [(cid, "running")]
    assert (ex.exit_code, ex.signal) == (7, 0)
    with open(log) as f:
        assert messages(f.read()) == ["before", "after"]


def test_sigusr1_reopens_the_log_for_rotation(harness, tmp_path) -> None:
    go = tmp_path / "go"

    async def run():
        cid, bdir, log = await harness.create("rotate", (
            "sh", "-c", "echo one; while [ ! -e /w/go ]; do sleep 0.01; done; echo two"),
            mounts=(bundle.Mount(str(tmp_path), "/w", ("rbind", "ro")),))
        await harness.rt.start(cid)
        deadline = asyncio.get_running_loop().time() + 10
        while "one" not in open(log).read():  # wait for the first line, bounded
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.005)
        os.rename(log, log + ".1")
        os.kill(shim_pid(bdir), signal.SIGUSR1)
        go.write_text("")
        ex = await harness.rt.wait_exit(cid, 10)
        await harness.rt.delete(cid)
        with open(log + ".1") as a, open(log) as b:
            return ex, a.read(), b.read()
    ex, old, new = harness.go(run())
    assert ex.exit_code == 0
    assert messages(old) == ["one"] and messages(new) == ["two"]


def test_concurrent_creates_and_a_respawned_zygote(harness) -> None:
    async def burst(names):
        made = await asyncio.gather(*(harness.create(n, ("sh", "-c", f"echo {n}")) for n in names))
        for cid, _, _ in made:
            await harness.rt.start(cid)
        out = []
        for cid, _, log in made:
            ex = await harness.rt.wait_exit(cid, 10)
            await harness.rt.delete(cid)
            with open(log) as f:
                out.append((ex.exit_code, messages(f.read())))
        return out
    names = [f"b{i}" for i in range(8)]
    assert harness.go(burst(names)) == [(0, [n]) for n in names]
    harness.rt._zygote.kill()  # the zygote dies: the next create starts a new one
    harness.go(harness.rt._zygote.wait())
    assert harness.go(burst(["after"])) == [(0, ["after"])]


def test_sandbox_files_mount_over_the_read_only_host_etc(harness, tmp_path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3\tweb-0.web.default.svc.cluster.local\tweb-0\n")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.96.0.10\n")
    ex, log = harness.go(harness.run("etc", ("sh", "-c", "cat /etc/hosts /etc/resolv.conf"), mounts=(
        bundle.Mount(str(hosts), "/etc/hosts", ("rbind", "ro")),
        bundle.Mount(str(resolv), "/etc/resolv.conf", ("rbind", "ro")))))
    assert ex.exit_code == 0
    assert messages(log) == ["10.1.2.3\tweb-0.web.default.svc.cluster.local\tweb-0", "nameserver 10.96.0.10"]
