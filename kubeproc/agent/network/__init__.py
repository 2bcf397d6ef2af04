"""The `Network` seam: pod network sandboxes (netns + veth on the instance's bridge).

Owns the narrow protocol the agent uses, the value types it returns and the per-instance
configuration that names every kernel object (bridge, veth) so two instances can run
side by side and a later start can find what a crashed one left. The Linux implementation is
`kubeproc.agent.network.linux.LinuxNetwork`; addresses come from `ipam.py`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from dataclasses import dataclass, field
from typing import Protocol

_TAG_RE = re.compile(r"^[a-z0-9]{1,8}$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class NetworkError(Exception):
    """A pod network could not be set up or torn down; the message names the object."""


@dataclass(frozen=True)
class PodNetwork:
    """What a pod's sandbox gets: the netns it was set up in (runc's
    `linux.namespaces[net].path`; "" when only the IPAM record knows the pod), its IPv4
    address, the gateway (the bridge address) and the host-side veth name."""

    pod_uid: str
    netns_path: str
    ip: str
    prefixlen: int
    gateway: str
    veth_host: str


@dataclass(frozen=True)
class NetworkConfig:
    """Names and addresses of one instance's pod network.

    `instance` is a short tag (`[a-z0-9]{1,8}`) embedded in every kernel object name;
    `state_dir` holds the IPAM file; `bridge` defaults to `kp<instance>0` (≤ 15 chars).
    """

    instance: str
    pod_cidr: str
    state_dir: str
    bridge: str = ""
    mtu: int = 1500
    _net: ipaddress.IPv4Network = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _TAG_RE.match(self.instance):
            raise ValueError(f"instance tag {self.instance!r} must match [a-z0-9]{{1,8}}")
        net = ipaddress.ip_network(self.pod_cidr, strict=True)
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 30:
            raise ValueError(f"pod CIDR {self.pod_cidr!r} must be IPv4 with prefix length <= 30")
        object.__setattr__(self, "_net", net)
        if not self.bridge:
            object.__setattr__(self, "bridge", f"kp{self.instance}0")
        if not _IFNAME_RE.match(self.bridge):
            raise ValueError(f"bridge name {self.bridge!r} is not a valid interface name")

    @classmethod
    def for_data_dir(cls, data_dir: str, pod_cidr: str | None = None) -> "NetworkConfig":
        """Defaults derived from the data dir: tag = 6 hex chars of its path's hash, pod CIDR
        `10.244.<hash byte>.0/24` (so two instances rarely overlap; pass `pod_cidr` to be sure)."""
        digest = hashlib.sha256(os.path.realpath(data_dir).encode()).hexdigest()
        cidr = pod_cidr or f"10.244.{int(digest[6:8], 16)}.0/24"
        return cls(instance=digest[:6], pod_cidr=cidr, state_dir=os.path.join(data_dir, "network"))

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self._net

    def veth_name(self, pod_uid: str) -> str:
        """`veth` + 11 hex chars of hash(instance, uid): 15 chars, the kernel's limit."""
        return "veth" + hashlib.sha256(f"{self.instance}/{pod_uid}".encode()).hexdigest()[:11]

    def bridge_mac(self) -> str:
        """A fixed, locally administered MAC so the gateway's MAC never changes as ports come
        and go (a bridge otherwise takes the lowest port MAC, invalidating pods' ARP caches)."""
        h = hashlib.sha256(f"bridge/{self.instance}".encode()).digest()
        return "02:" + ":".join(f"{b:02x}" for b in h[:5])

    @property
    def ipam_path(self) -> str:
        return os.path.join(self.state_dir, "ipam.json")


class Network(Protocol):
    """Pod network sandboxes of one instance. Methods block for a few ms at most (no forks),
    are thread-safe and idempotent; call them from asyncio via `asyncio.to_thread`."""

    def ensure_bridge(self) -> None:
        """Create (or repair) the instance bridge with the gateway address, up."""

    def setup_pod(self, pod_uid: str, netns_path: str) -> PodNetwork:
        """In the pod's netns (made and held by the sandbox: podns.py), bring up `lo` and `eth0`
        with an IP from the pod CIDR and a default route via the gateway, as a CNI ADD does.
        Idempotent: a pod already set up keeps its IP, and what is missing is repaired."""

    def setup_pod_here(self, pod_uid: str) -> PodNetwork:
        """`setup_pod` from a thread inside the pod's netns (the one that has just made it);
        the result's `netns_path` is ""."""

    def teardown_pod(self, pod_uid: str) -> None:
        """Release the pod's IP (CNI DEL). The veth pair goes with the netns, once the sandbox
        released it and no container is left in it. A pod without a network is a no-op."""

    def list_pods(self) -> dict[str, PodNetwork]:
        """Every pod with an IP in the IPAM record (for adoption after a restart and for
        cleaning what a crash left); `netns_path` is ""."""

    def teardown_all(self) -> None:
        """Release every IP, wait until the kernel has removed the veths (their netns released
        first), then remove the bridge and the IPAM record, so the host is clean when it returns."""
