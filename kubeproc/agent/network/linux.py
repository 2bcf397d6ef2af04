"""`LinuxNetwork`: the `Network` seam on a real Linux host (root), over rtnetlink, no forks.

Per instance one bridge (gateway address, fixed MAC, up); per pod, in the netns the sandbox
made (podns.py, the path it is held at), `eth0`: the pod end of a veth pair whose host end
(`veth<hash>`) is a bridge port in hairpin mode. A pod is set up in ~2 ms: from a thread inside
the netns (the sandbox's own thread right after it made the netns, `setup_pod_here`, or a
short-lived one that enters it, `setup_pod`), one batch on the instance's host-side netlink
socket creates the veth with its peer already in the netns and sets the port's hairpin mode, and
one batch in the netns brings up `lo` and `eth0`, adds the IP and default route. When the netns
is released the kernel removes the veth pair; teardown releases the IP.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import os
import socket
import threading
from collections.abc import Callable

from kubeproc.agent.network import NetworkConfig, NetworkError, PodNetwork
from kubeproc.agent.network import netlink as nl
from kubeproc.agent.network import netns
from kubeproc.agent.network.ipam import Ipam
from pyroute2.netlink.rtnl import RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE

LOOPBACK_INDEX = 1  # the kernel registers `lo` first in every netns (LOOPBACK_IFINDEX)
POD_IFNAME = "eth0"
VETH_GONE_TIMEOUT = 10.0  # seconds teardown_all waits for the kernel to drop the veths


HAVE_IPV6 = os.path.isdir("/proc/sys/net/ipv6")  # not with ipv6.disable=1 on the kernel command line


def pod_mac(ip: ipaddress.IPv4Address) -> str:
    """`0a:58:<ip>`: a MAC derived from the IP (as OVN-Kubernetes does), so a peer's ARP entry
    for a reused IP still points at the right pod."""
    return "0a:58:" + ":".join(f"{b:02x}" for b in ip.packed)


class LinuxNetwork:
    """Pod networks of one instance. Thread-safe; each call blocks for a few ms at most."""

    def __init__(self, config: NetworkConfig, ipam: Ipam | None = None) -> None:
        self.config = config
        self.ipam = ipam or Ipam(config.pod_cidr, config.ipam_path)
        # Striped per-uid locks: setups of different pods run in parallel, one pod's don't race.
        self._locks = [threading.Lock() for _ in range(64)]
        # One rtnetlink socket in the host netns (it stays there whichever thread uses it), so
        # a thread inside a pod's netns can still create the host end of its veth.
        self._host_lock = threading.Lock()
        self._host = nl.open_socket()

    def _host_request(self, batch: list[nl.Request]) -> None:
        """A batch on the host socket, one batch at a time (acks of an interrupted batch left
        unread are skipped by their sequence numbers, which never repeat)."""
        with self._host_lock:
            nl.request(self._host, batch)

    def _lock(self, pod_uid: str) -> threading.Lock:
        return self._locks[int(hashlib.blake2s(pod_uid.encode(), digest_size=4).hexdigest(), 16) % 64]

    # -- bridge ---------------------------------------------------------------------------

    def ensure_bridge(self) -> None:
        cfg = self.config
        try:
            # NLM_F_CREATE without EXCL: creates, or updates an existing bridge in place. The
            # INFO_DATA (STP off: ports forward at once) makes the kernel refuse a non-bridge.
            self._host_request([(nl.link(ifname=cfg.bridge, up=True, attrs=[
                ("IFLA_ADDRESS", cfg.bridge_mac()), ("IFLA_MTU", cfg.mtu),
                nl.linkinfo("bridge", [("IFLA_BR_STP_STATE", 0)]),
            ]), RTM_NEWLINK, nl.NLM_F_CREATE)])
            index = _host_ifindex(cfg.bridge)
            gateway = str(self.ipam.gateway)
            self._host_request([(nl.address(index, gateway, cfg.network.prefixlen), RTM_NEWADDR, nl.REPLACE)])
        except OSError as e:
            if e.errno == errno.EOPNOTSUPP:
                raise NetworkError(f"interface {cfg.bridge} exists and is not a bridge") from e
            raise NetworkError(f"setting up bridge {cfg.bridge}: {e}") from e

    def _bridge_index(self) -> int:
        try:
            return _host_ifindex(self.config.bridge)
        except OSError:
            self.ensure_bridge()
            return _host_ifindex(self.config.bridge)

    # -- pods -------------------------------------------------------------------------------

    def setup_pod(self, pod_uid: str, netns_path: str) -> PodNetwork:
        return self._setup(pod_uid, netns_path, lambda configure: netns.run_in_thread(
            lambda: (netns.enter(netns_path), configure())))

    def setup_pod_here(self, pod_uid: str) -> PodNetwork:
        """`setup_pod` from a thread that is inside the pod's netns already: the sandbox's own
        thread right after it made the namespaces (podns.create), no second thread."""
        return self._setup(pod_uid, "", lambda configure: configure())

    def _setup(self, pod_uid: str, netns_path: str,
               run: Callable[[Callable[[], None]], object]) -> PodNetwork:
        with self._lock(pod_uid):
            bridge = self._bridge_index()
            ip = self.ipam.allocate(pod_uid)
            result = self._pod_network(pod_uid, ip, netns_path)
            try:
                run(lambda: self._configure(result, bridge))
            except Exception as e:
                self.ipam.release(pod_uid)
                raise NetworkError(f"setting up the network of pod {pod_uid}: {e}") from e
            return result

    def _configure(self, pod: PodNetwork, bridge: int) -> None:
        """In a thread inside the pod's netns: the veth pair, then the pod's side of it."""
        eth0 = _ifindex(POD_IFNAME)
        # the bridge sends a frame back out of the port it came in by: a pod reaching itself
        # through a Service is DNATed back to its own port (with br_netfilter the frame stays
        # bridged), as kubenet sets `hairpinMode: hairpin-veth`
        hairpin = (nl.link(ifname=pod.veth_host, attrs=[nl.bridge_port([("IFLA_BRPORT_MODE", 1)])]),
                   RTM_NEWLINK, 0)
        if eth0 == 0:
            self._create_veth(pod, bridge, hairpin)
            eth0 = _ifindex(POD_IFNAME)
        else:
            # The pair exists (veths are created and destroyed as pairs): re-attach.
            self._host_request([(nl.link(ifname=pod.veth_host, up=True, attrs=[("IFLA_MASTER", bridge)]),
                                 RTM_NEWLINK, 0), hairpin])
        with nl.open_socket() as inside:
            nl.request(inside, [
                (nl.link(index=LOOPBACK_INDEX, up=True), RTM_NEWLINK, 0),
                # pods are IPv4 single-stack: no fe80:: on eth0, whose DAD, MLD reports and
                # router solicitations the bridge would flood to every other pod (~8 packets
                # a pod, each delivered to all N pods: quadratic in a burst); lo keeps ::1
                *([(nl.link(index=eth0, attrs=[nl.no_ipv6_link_local()]), RTM_NEWLINK, 0)]
                  if HAVE_IPV6 else []),
                (nl.address(eth0, pod.ip, pod.prefixlen), RTM_NEWADDR, nl.REPLACE),
                (nl.link(index=eth0, up=True), RTM_NEWLINK, 0),
                (nl.default_route(pod.gateway, eth0), RTM_NEWROUTE, nl.REPLACE),
            ])

    def _create_veth(self, pod: PodNetwork, bridge: int, then: nl.Request) -> None:
        """One batch on the host socket: host end on the bridge and up, peer created directly in
        the calling thread's netns as `eth0` (no move, no rename), then `then` (hairpin)."""
        fd = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            def create() -> nl.Request:  # a message is encoded in place: a fresh one per batch
                peer = nl.veth_peer([
                    ("IFLA_IFNAME", POD_IFNAME), ("IFLA_NET_NS_FD", fd),
                    ("IFLA_ADDRESS", pod_mac(ipaddress.IPv4Address(pod.ip))), ("IFLA_MTU", self.config.mtu),
                ])
                return (nl.link(ifname=pod.veth_host, up=True, attrs=[
                    ("IFLA_MASTER", bridge), ("IFLA_MTU", self.config.mtu), nl.linkinfo("veth", [peer]),
                ]), RTM_NEWLINK, nl.CREATE)
            try:
                self._host_request([create(), then])
            except nl.NetlinkError as e:
                if e.errno != errno.EEXIST:
                    raise
                # The same pod's previous pair, still being destroyed with its old netns.
                with self._host_lock:
                    nl.delete_link(self._host, pod.veth_host)
                self._host_request([create(), then])
        finally:
            os.close(fd)

    def teardown_pod(self, pod_uid: str) -> None:
        with self._lock(pod_uid):
            self.ipam.release(pod_uid)

    def list_pods(self) -> dict[str, PodNetwork]:
        allocated = self.ipam.allocations()
        return {uid: self._pod_network(uid, ip, "") for uid, ip in sorted(allocated.items())}

    def teardown_all(self) -> None:
        cfg = self.config
        errors: list[str] = []
        self.ipam.release_all()
        ports_dir = f"/sys/class/net/{cfg.bridge}/brif"

        def ports() -> list[str]:
            try:
                return os.listdir(ports_dir)
            except FileNotFoundError:
                return []

        # The kernel destroys a netns (and its veth pairs) asynchronously, tens of ms later.
        nl.wait_until(lambda: not ports(), VETH_GONE_TIMEOUT)
        left = ports()
        try:
            with self._host_lock:
                nl.delete_link(self._host, cfg.bridge)
        except OSError as e:
            errors.append(f"bridge {cfg.bridge}: {e}")
        if left:
            errors.append(f"veths {', '.join(sorted(left))} outlived their netns (a process still uses it?)")
        if errors:
            raise NetworkError("teardown of instance network incomplete: " + "; ".join(errors))

    def _pod_network(self, pod_uid: str, ip: ipaddress.IPv4Address | None, path: str) -> PodNetwork:
        cfg = self.config
        return PodNetwork(
            pod_uid=pod_uid,
            netns_path=path,
            ip=str(ip) if ip is not None else "",
            prefixlen=cfg.network.prefixlen,
            gateway=str(self.ipam.gateway),
            veth_host=cfg.veth_name(pod_uid),
        )


def _host_ifindex(name: str) -> int:
    """Index of a host device from any thread: sysfs shows the netns it was mounted in (the
    host's), whichever netns the calling thread is in. Raises OSError if there is none."""
    with open(f"/sys/class/net/{name}/ifindex", "rb") as f:
        return int(f.read())


def _ifindex(name: str) -> int:
    """Index of `name` in the calling thread's netns, 0 if absent."""
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0
