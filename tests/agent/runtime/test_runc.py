"""RuncRuntime with real runc: CRI logs, exit codes (exit, SIGTERM, SIGKILL, OOM), shared netns,
hostname, read-only host view, writable layer discarded on restart, adoption by a new runtime
instance (agent restart), the one container monitor (log rotation, respawn, a killed monitor, its
own exit), and nothing left behind (the harness fixture asserts it)."""

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
from kubeproc.agent.runtime.runc import RuncRuntime, monitor_pids, wait_pid
from kubeproc.agent.streams import log_files

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


def test_run_creates_and_starts_in_one_step(harness) -> None:
    async def go():
        cid, bdir, log = harness.prepare("one", ("sh", "-c", "echo started; exit 4"))
        pid = await harness.rt.run(bdir, cid, log)
        assert pid > 0
        ex = await harness.rt.wait_exit(cid, 20)
        await harness.rt.delete(cid)
        with open(log) as f:
            return ex, f.read()
    ex, log = harness.go(go())
    assert ex.exit_code == 4 and cri(log) == [("stdout", "F", "started")]


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
        cid, _, log = await harness.create("trap", ("sh", "-c", "trap 'echo bye; exit 143' TERM; echo ready; sleep 1000 & wait"))
        await harness.rt.start(cid)
        for _ in range(500):  # as PID 1 the shell drops SIGTERM until its trap is set
            if os.path.exists(log) and "ready" in open(log).read():
                break
            await asyncio.sleep(0.01)
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
    # the monitor kept logging, and the exit code is still observed
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
from kubeproc.agent.runtime.runc import RuncRuntime
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
        helpers = children(agent.pid)  # the monitor forked away: it is not the agent's child
        monitors = monitor_pids(harness.rt.root)
    finally:
        agent.kill()  # SIGKILL: no cleanup runs in the agent
        agent.wait()
    assert helpers == [] and len(monitors) == 1

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
    assert monitor_pids(harness.rt.root) == monitors  # the same monitor, not a second one
    with open(log) as f:
        assert messages(f.read()) == ["before", "after"]


def test_logs_rotate_by_size_keeping_max_files(harness) -> None:
    # container_log_manager.go: the live file is renamed <name>.<YYYYMMDD-HHMMSS> past the max
    # size, and only max_files-1 rotated files are kept
    harness.rt.log_max_size = 2000
    harness.rt.log_max_files = 3
    ex, _ = harness.go(harness.run("rot", ("sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done")))
    assert ex.exit_code == 0
    cid = harness.cid("rot")
    d = os.path.join(harness.data, "logs", cid)
    names = sorted(os.listdir(d))
    rotated = [n for n in names if n != "0.log"]
    assert "0.log" in names and len(rotated) == 2
    assert all(re.match(r"^0\.log\.\d{8}-\d{6}(\.\d{3})?$", n) for n in rotated)
    assert all(1900 < os.path.getsize(os.path.join(d, n)) <= 2000 for n in rotated)
    text = ""
    for path in log_files(d)[0]:  # how `kubectl logs` reads them: rotated (oldest first), then live
        with open(path) as f:
            text += f.read()
    got = messages(text)
    assert got == [f"line-{i}" for i in range(300 - len(got), 300)] and 0 < len(got) < 300


def test_concurrent_creates_and_a_respawned_monitor(harness) -> None:
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
    [first] = monitor_pids(harness.rt.root)
    os.kill(first, signal.SIGKILL)  # the monitor dies: the next create starts a new one
    harness.go(wait_pid(first, 10))
    assert harness.go(burst(["after"])) == [(0, ["after"])]
    assert monitor_pids(harness.rt.root) not in ([], [first])


def test_a_killed_monitor_leaves_orphans_whose_exit_is_unknown(harness) -> None:
    async def go():
        cid, _, _ = await harness.create("orphan", ("sleep", "1000"))
        await harness.rt.start(cid)
        [pid] = monitor_pids(harness.rt.root)
        os.kill(pid, signal.SIGKILL)
        await wait_pid(pid, 10)
        waiting = asyncio.ensure_future(harness.rt.wait_exit(cid, 10))
        await asyncio.sleep(0)
        assert not waiting.done()  # still running: nothing to report yet
        await harness.rt.kill(cid, 9)
        ex = await waiting
        await harness.rt.delete(cid)
        return ex
    ex = harness.go(go())
    assert (ex.exit_code, ex.unknown) == (137, True)


def test_the_monitor_stays_for_running_containers_and_exits_after_the_last_client(harness) -> None:
    async def go():
        cid, _, _ = await harness.create("stay", ("sleep", "1000"))
        await harness.rt.start(cid)
        [pid] = monitor_pids(harness.rt.root)
        await harness.rt.close()  # the agent disconnects: the container still needs its monitor
        stayed = monitor_pids(harness.rt.root) == [pid]
        again = RuncRuntime(harness.rt.root)
        await again.kill(cid, 9)
        ex = await again.wait_exit(cid, 10)
        await again.delete(cid)
        await again.close()  # no container, no client: it exits, and close waited for that
        return stayed, ex, monitor_pids(harness.rt.root), os.path.exists(harness.rt.root + ".monitor.sock")
    stayed, ex, after, sock = harness.go(go())
    assert stayed and (ex.exit_code, ex.signal) == (137, 9)
    assert after == [] and not sock


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


NS_2026 = 1767323045_000000000  # 2026-01-02T03:04:05Z


@pytest.mark.parametrize("existing,want", [
    ((), "0.log.20260102-030405"),
    (("0.log.20260102-030405",), "0.log.20260102-030405.001"),
    # the bare name was pruned already: a reused name would sort before the newer .001
    (("0.log.20260102-030405.001",), "0.log.20260102-030405.002"),
    (("0.log.20260102-030404",), "0.log.20260102-030405"),
], ids=["first-rotation", "same-second", "same-second-after-prune", "earlier-second"])
def test_rotated_names_sort_oldest_first(tmp_path, existing, want) -> None:
    from kubeproc.agent.runtime.monitorfiles import rotated_name

    for n in existing:
        (tmp_path / n).write_text("")
    assert rotated_name(str(tmp_path / "0.log"), NS_2026) == str(tmp_path / want)


@pytest.mark.parametrize("max_size,max_files,records,want_files", [
    (100, 3, 10, 3),  # 10 x 40 B: rotates 3 times, keeps the live file + 2 rotated
    (100, 1, 10, 1),  # max_files 1: only the live file
    (0, 5, 10, 1),  # 0: never rotate
    (1000, 5, 10, 1),  # under the limit
], ids=["keeps-max-files", "one-file", "disabled", "under-limit"])
def test_log_rotation_keeps_whole_records(tmp_path, max_size, max_files, records, want_files) -> None:
    from kubeproc.agent.runtime.monitorfiles import Log

    path = str(tmp_path / "0.log")
    log = Log(path, max_size, max_files)
    lines = [b"%039d\n" % i for i in range(records)]
    log.write(b"".join(lines[:5]))  # one chunk crossing the limit
    for line in lines[5:]:
        log.write(line)
    log.close()
    text = b""
    for p in log_files(str(tmp_path))[0]:
        with open(p, "rb") as f:
            data = f.read()
        assert max_size == 0 or len(data) <= max_size
        text += data
    assert len(os.listdir(tmp_path)) == want_files
    got = text.splitlines(keepends=True)
    assert got == lines[len(lines) - len(got):]
