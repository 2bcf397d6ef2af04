"""LinuxNetwork on the real kernel: pod-to-pod TCP over the bridge, idempotent setup, clean
teardown (no netns held, no veth, bridge or mount left), adoption after a simulated crash, two
instances side by side, and proof that no call forks. The netns are made and held by this
process (PodNets; kubeproc's agent has the container monitor hold them). Each test uses its
own instance tag and CIDR from 10.250.X.0/24 and removes everything it made, even on failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Callable, Iterator

import pytest

from kubeproc.agent.network import NetworkConfig, NetworkError, PodNetwork
from kubeproc.agent.network import netlink as nl
from kubeproc.agent.network import netns
from kubeproc.agent.network.ipam import IpamExhausted
from kubeproc.agent.network.linux import LinuxNetwork

PY = [sys.executable, "-I"]


def _link_exists(name: str) -> bool:
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _in_netns(pod: PodNetwork, *cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={pod.netns_path}", "--", *cmd],
                          capture_output=True, text=True, timeout=10, **kw)  # type: ignore[call-overload]


class PodNets(LinuxNetwork):
    """LinuxNetwork with the sandbox's part played by the test: each pod's netns is made by this
    process and held by an fd of it (the agent's podns.py has the container monitor hold it)."""

    def __init__(self, config: NetworkConfig, held: dict[str, int] | None = None) -> None:
        super().__init__(config)
        self.held: dict[str, int] = {} if held is None else held

    def netns_of(self, pod_uid: str) -> str:
        if pod_uid not in self.held:
            self.held[pod_uid] = netns.run_in_thread(netns.unshare_and_open)
        return f"/proc/{os.getpid()}/fd/{self.held[pod_uid]}"

    def setup_pod(self, pod_uid: str, netns_path: str = "") -> PodNetwork:
        return super().setup_pod(pod_uid, netns_path or self.netns_of(pod_uid))

    def release(self, pod_uid: str) -> None:
        fd = self.held.pop(pod_uid, None)
        if fd is not None:
            os.close(fd)

    def teardown_pod(self, pod_uid: str) -> None:
        self.release(pod_uid)
        super().teardown_pod(pod_uid)

    def teardown_all(self) -> None:
        for uid in list(self.held):
            self.release(uid)
        super().teardown_all()


def _force_clean(net: PodNets) -> None:
    """Belt and braces after teardown_all: release and remove anything of this test instance."""
    for uid in list(net.held):
        net.release(uid)
    with nl.open_socket() as s:
        nl.delete_link(s, net.config.bridge)


@pytest.fixture
def make_net() -> Iterator[Callable[..., PodNets]]:
    made: list[PodNets] = []
    dirs: list[str] = []

    def make(third_octet: int, prefix: str = "24", state_dir: str | None = None) -> PodNets:
        if state_dir is None:
            state_dir = tempfile.mkdtemp(prefix="kp-net-test-")
            dirs.append(state_dir)
        tag = "t" + uuid.uuid4().hex[:7]
        cfg = NetworkConfig(instance=tag, pod_cidr=f"10.250.{third_octet}.0/{prefix}", state_dir=state_dir)
        net = PodNets(cfg)
        net.ensure_bridge()
        made.append(net)
        return net

    try:
        yield make
    finally:
        for net in made:
            try:
                net.teardown_all()
            except Exception:
                pass
            _force_clean(net)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _assert_gone(net: PodNets, pods: list[PodNetwork], bridge_too: bool) -> None:
    cfg = net.config
    assert net.held == {} and net.list_pods() == {}
    # The kernel drops a netns's veths asynchronously; wait on link events, bounded.
    assert nl.wait_until(lambda: not any(_link_exists(p.veth_host) for p in pods), 5.0)
    assert _link_exists(cfg.bridge) is not bridge_too


def test_two_pods_reach_each_other_over_tcp_and_have_lo_and_default_route(make_net) -> None:
    net = make_net(101)
    a, b = net.setup_pod("pod-a"), net.setup_pod("pod-b")
    assert (a.ip, b.ip, a.gateway, a.prefixlen) == ("10.250.101.2", "10.250.101.3", "10.250.101.1", 24)
    assert a.netns_path != b.netns_path and a.veth_host != b.veth_host

    listener = subprocess.Popen(
        ["nsenter", f"--net={b.netns_path}", "--", *PY, "-c", textwrap.dedent("""
            import socket
            s = socket.socket(); s.bind(("0.0.0.0", 7777)); s.listen()
            print("ready", flush=True)
            c, peer = s.accept(); c.sendall(("hello " + peer[0]).encode()); c.close()
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        client = _in_netns(a, *PY, "-c", textwrap.dedent(f"""
            import socket
            c = socket.create_connection(("{b.ip}", 7777), timeout=3)
            print(c.recv(100).decode())
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
            socket.create_connection(s.getsockname(), timeout=3)
            print("lo ok")
        """))
        assert client.returncode == 0, client.stderr
        assert client.stdout.split("\n")[:2] == [f"hello {a.ip}", "lo ok"]
        assert listener.wait(timeout=5) == 0
    finally:
        listener.kill()
        listener.wait()

    route = _in_netns(a, "ip", "-4", "route", "show", "default").stdout
    assert route.split()[:5] == ["default", "via", "10.250.101.1", "dev", "eth0"]
    host_end = subprocess.run(["ip", "-o", "link", "show", a.veth_host], capture_output=True, text=True).stdout
    assert f"master {net.config.bridge}" in host_end and "state UP" in host_end


def test_eth0_has_no_ipv6_link_local_so_the_bridge_floods_nothing(make_net) -> None:
    """IPv4 single-stack pods: eth0 generates no fe80:: address (so no DAD, MLD or router
    solicitation, which the bridge would flood to every pod); lo keeps ::1."""
    net = make_net(109)
    a = net.setup_pod("pod-a")
    assert _in_netns(a, "cat", "/proc/sys/net/ipv6/conf/eth0/addr_gen_mode").stdout.strip() == "1"
    assert _in_netns(a, "ip", "-6", "addr", "show", "dev", "eth0").stdout == ""
    assert "inet6 ::1/128" in _in_netns(a, "ip", "-6", "addr", "show", "dev", "lo").stdout
    # setting it up again (adoption) keeps it so, with its IPv4 address and route
    assert net.setup_pod("pod-a") == a
    assert _in_netns(a, "ip", "-6", "addr", "show", "dev", "eth0").stdout == ""
    assert f"inet {a.ip}/24" in _in_netns(a, "ip", "-4", "addr", "show", "dev", "eth0").stdout


def _hairpin_mode(veth: str) -> str:
    with open(f"/sys/class/net/{veth}/brport/hairpin_mode") as f:
        return f.read().strip()


def test_setup_from_the_thread_that_made_the_netns_and_ports_in_hairpin_mode(make_net) -> None:
    """setup_pod_here: the sandbox's thread configures the netns it has just made (no second
    thread enters it); the host end is a bridge port in hairpin mode either way, also when an
    existing pair is re-attached."""
    net = make_net(110)

    def make_and_setup() -> tuple[int, PodNetwork]:
        fd = netns.unshare_and_open()
        return fd, net.setup_pod_here("pod-h")
    fd, here = netns.run_in_thread(make_and_setup)
    net.held["pod-h"] = fd
    path = net.netns_of("pod-h")
    assert here.netns_path == "" and here.ip == "10.250.110.2"
    pod = PodNetwork(**{**here.__dict__, "netns_path": path})
    assert f"inet {here.ip}/24" in _in_netns(pod, "ip", "-4", "addr", "show", "dev", "eth0").stdout
    assert "via 10.250.110.1" in _in_netns(pod, "ip", "-4", "route", "show", "default").stdout
    assert _hairpin_mode(here.veth_host) == "1"
    # detached from the bridge (a repair case): setting it up again re-attaches it in hairpin mode
    assert subprocess.run(["ip", "link", "set", here.veth_host, "nomaster"]).returncode == 0
    assert net.setup_pod("pod-h", path).ip == here.ip
    assert _hairpin_mode(here.veth_host) == "1"
    host_end = subprocess.run(["ip", "-o", "link", "show", here.veth_host], capture_output=True, text=True).stdout
    assert f"master {net.config.bridge}" in host_end


def test_setup_is_idempotent_and_repairs_a_broken_pod(make_net) -> None:
    net = make_net(102)
    first = net.setup_pod("pod-a")
    assert net.setup_pod("pod-a") == first
    # Break it: eth0 down (which also drops the default route).
    assert _in_netns(first, "ip", "link", "set", "eth0", "down").returncode == 0
    assert _in_netns(first, "ip", "-4", "route", "show", "default").stdout == ""
    assert net.setup_pod("pod-a") == first
    assert "via 10.250.102.1" in _in_netns(first, "ip", "-4", "route", "show", "default").stdout
    assert list(net.list_pods()) == ["pod-a"]


def test_teardown_leaves_no_netns_veth_mount_or_bridge(make_net) -> None:
    net = make_net(103)
    a, b = net.setup_pod("pod-a"), net.setup_pod("pod-b")
    net.teardown_pod("pod-a")
    net.teardown_pod("pod-a")  # a missing pod is a no-op
    assert "pod-a" not in net.held
    assert nl.wait_until(lambda: not _link_exists(a.veth_host), 5.0)
    assert net.ipam.get("pod-a") is None and list(net.list_pods()) == ["pod-b"]
    net.teardown_all()
    _assert_gone(net, [a, b], bridge_too=True)
    assert not os.path.exists(net.config.ipam_path)


def test_same_pod_set_up_again_right_after_teardown(make_net) -> None:
    # The old veth may still exist while the kernel destroys the old netns.
    net = make_net(104)
    before = net.setup_pod("pod-a")
    net.teardown_pod("pod-a")
    after = net.setup_pod("pod-a")
    assert after.ip != before.ip  # round-robin: a just-released IP is not reused at once
    assert "10.250.104." in _in_netns(after, "ip", "-4", "-o", "addr", "show", "eth0").stdout


def test_restart_adopts_pods_and_teardown_all_cleans_a_crashed_instance(make_net) -> None:
    crashed = make_net(105)
    cfg = crashed.config
    pods = [crashed.setup_pod(f"pod-{i}") for i in range(3)]
    crashed.ipam.allocate("pod-stale")  # a crash between the IP and the network
    held = crashed.held  # in kubeproc the monitor: it outlives the agent
    del crashed  # nothing torn down

    restarted = PodNets(cfg, held)  # same instance config, same state dir
    found = restarted.list_pods()
    assert sorted(found) == ["pod-0", "pod-1", "pod-2", "pod-stale"]
    assert [found[p.pod_uid].ip for p in pods] == [p.ip for p in pods]  # the persisted IPAM record
    assert found["pod-stale"].ip == "10.250.105.5"
    assert restarted.setup_pod("pod-1") == pods[1]  # adopted, not re-created
    assert restarted.setup_pod("pod-new").ip == "10.250.105.6"  # no address handed out twice

    restarted.teardown_all()
    _assert_gone(restarted, pods, bridge_too=True)
    assert LinuxNetwork(cfg).list_pods() == {}


def test_two_instances_side_by_side_do_not_interfere(make_net) -> None:
    one, two = make_net(106), make_net(107)
    assert one.config.bridge != two.config.bridge
    a1, a2 = one.setup_pod("same-uid"), two.setup_pod("same-uid")
    assert (a1.ip, a2.ip) == ("10.250.106.2", "10.250.107.2")
    assert a1.netns_path != a2.netns_path and a1.veth_host != a2.veth_host
    assert list(one.list_pods()) == ["same-uid"] and list(two.list_pods()) == ["same-uid"]

    one.teardown_all()
    _assert_gone(one, [a1], bridge_too=True)
    assert os.path.exists(a2.netns_path) and _link_exists(two.config.bridge) and _link_exists(a2.veth_host)
    assert "via 10.250.107.1" in _in_netns(a2, "ip", "-4", "route", "show", "default").stdout
    assert list(two.list_pods()) == ["same-uid"]


def test_exhausted_cidr_raises_a_typed_error_and_creates_nothing(make_net) -> None:
    net = make_net(108, prefix="30")  # .1 gateway, .2 the only pod address
    assert net.setup_pod("pod-a").ip == "10.250.108.2"
    with pytest.raises(IpamExhausted):
        net.setup_pod("pod-b")
    assert net.ipam.get("pod-b") is None and list(net.list_pods()) == ["pod-a"]
    net.teardown_pod("pod-a")
    assert net.setup_pod("pod-b").ip == "10.250.108.2"


def test_ensure_bridge_refuses_a_foreign_interface_with_its_name() -> None:
    cfg = NetworkConfig(instance="d" + uuid.uuid4().hex[:7], pod_cidr="10.250.110.0/24", state_dir="/nonexistent")
    subprocess.run(["ip", "link", "add", cfg.bridge, "type", "veth", "peer", "name", cfg.bridge + "p"], check=True)
    try:
        with pytest.raises(NetworkError, match="exists and is not a bridge"):
            LinuxNetwork(cfg).ensure_bridge()
    finally:
        subprocess.run(["ip", "link", "del", cfg.bridge], check=True)


FORK_PROBE = """
import os, sys
from kubeproc.agent.network import NetworkConfig, netns
from kubeproc.agent.network.linux import LinuxNetwork
net = LinuxNetwork(NetworkConfig(instance=sys.argv[1], pod_cidr="10.250.109.0/24",
                                 state_dir=sys.argv[2]))
fds = {}
def up(uid):
    if uid not in fds:
        fds[uid] = netns.run_in_thread(netns.unshare_and_open)
    net.setup_pod(uid, f"/proc/{os.getpid()}/fd/{fds[uid]}")
try:
    net.ensure_bridge()
    for i in range(3):
        up(f"p{i}")
    up("p0")
    os.close(fds.pop("p1"))
    net.teardown_pod("p1")
    net.list_pods()
finally:
    for fd in fds.values():
        os.close(fd)
    net.teardown_all()
print("done")
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_no_call_forks_the_process(tmp_path) -> None:
    trace = tmp_path / "trace"
    tag = "f" + uuid.uuid4().hex[:7]
    run = subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o", str(trace), *PY[:1], "-c",
         FORK_PROBE, tag, str(tmp_path / "state")], capture_output=True, text=True, timeout=60, cwd=os.path.dirname(os.path.dirname(
             os.path.dirname(os.path.abspath(__file__)))))
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr
    calls = [line for line in trace.read_text().splitlines() if line.strip()]
    assert len(calls) >= 4  # one thread per setup: the probe saw them
    assert [c for c in calls if "CLONE_THREAD" not in c] == []  # threads only, never a process
