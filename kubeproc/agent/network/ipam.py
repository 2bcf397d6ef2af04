"""IP address management over one pod CIDR.

Pure allocation rules (`gateway_of`, `next_free`) plus `Ipam`, which keeps allocations keyed by
pod uid in a JSON file written atomically (temp file + rename), so they survive a restart or a
kill -9. Allocation is round-robin from the last address handed out (as CNI's host-local IPAM
does), which keeps a just-released IP from being reused while peers may still cache it.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import threading
from collections.abc import Iterable, Mapping

from kubeproc.agent.network import NetworkError

IPv4 = ipaddress.IPv4Address


class IpamExhausted(NetworkError):
    """Every address of the pod CIDR is allocated (a NetworkError: one type for the agent)."""


def gateway_of(network: ipaddress.IPv4Network) -> IPv4:
    """The first usable address is the gateway (the bridge's address)."""
    return network.network_address + 1


def pod_range(network: ipaddress.IPv4Network) -> tuple[int, int]:
    """Inclusive [first, last] integer range for pods: after the gateway, before broadcast."""
    first = int(network.network_address) + 2
    last = int(network.broadcast_address) - 1
    return first, last


def next_free(network: ipaddress.IPv4Network, used: Iterable[IPv4], last: IPv4 | None) -> IPv4:
    """The first free pod address after `last` (wrapping around); raises IpamExhausted."""
    first, end = pod_range(network)
    taken = {int(ip) for ip in used}
    size = end - first + 1
    start = int(last) + 1 if last is not None and first <= int(last) <= end else first
    for i in range(size):
        candidate = first + (start - first + i) % size
        if candidate not in taken:
            return IPv4(candidate)
    raise IpamExhausted(f"no free address in pod CIDR {network} ({size} addresses, all allocated)")


class Ipam:
    """Allocations of one CIDR, persisted at `path` (None: memory only). Thread-safe."""

    def __init__(self, cidr: str, path: str | None) -> None:
        net = ipaddress.ip_network(cidr, strict=True)
        if not isinstance(net, ipaddress.IPv4Network) or net.prefixlen > 30:
            raise ValueError(f"pod CIDR {cidr!r} must be IPv4 with prefix length <= 30")
        self.network = net
        self.gateway = gateway_of(net)
        self.path = path
        self._lock = threading.Lock()
        self._by_uid: dict[str, IPv4] = {}
        self._as_text: dict[str, str] = {}  # the same, pre-rendered: saving stays cheap at 500 pods
        self._last: IPv4 | None = None
        self._load()

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            # A torn file can only follow a power loss, which also cleared every netns.
            return
        if data.get("cidr") != str(self.network):
            # A changed CIDR invalidates old allocations; their netns are cleaned by name.
            return
        first, end = pod_range(self.network)
        for uid, ip in (data.get("allocations") or {}).items():
            addr = IPv4(ip)
            if first <= int(addr) <= end:
                self._by_uid[uid] = addr
                self._as_text[uid] = str(addr)
        if data.get("last"):
            self._last = IPv4(data["last"])

    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "cidr": str(self.network),
            "last": str(self._last) if self._last else None,
            "allocations": self._as_text,
        }
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        # A fixed temp name is safe: one instance owns its data dir and saves under the lock.
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            body = json.dumps(data, separators=(",", ":")).encode()
            if os.write(fd, body) != len(body):
                raise OSError(errno.ENOSPC, "short write", tmp)
        finally:
            os.close(fd)
        # No fsync: the file must survive a process crash (rename is atomic for that);
        # after a power loss no netns survives either and everything is reconciled.
        os.replace(tmp, self.path)

    def allocate(self, pod_uid: str) -> IPv4:
        """The pod's address: its existing one, else the next free one (persisted first)."""
        with self._lock:
            if pod_uid in self._by_uid:
                return self._by_uid[pod_uid]
            ip = next_free(self.network, self._by_uid.values(), self._last)
            previous = self._last
            self._by_uid[pod_uid] = ip
            self._as_text[pod_uid] = str(ip)
            self._last = ip
            try:
                self._save()
            except BaseException:
                del self._by_uid[pod_uid], self._as_text[pod_uid]
                self._last = previous
                raise
            return ip

    def get(self, pod_uid: str) -> IPv4 | None:
        with self._lock:
            return self._by_uid.get(pod_uid)

    def release(self, pod_uid: str) -> None:
        """Free the pod's address; no-op if it has none."""
        with self._lock:
            if self._by_uid.pop(pod_uid, None) is not None:
                del self._as_text[pod_uid]
                self._save()

    def allocations(self) -> Mapping[str, IPv4]:
        with self._lock:
            return dict(self._by_uid)

    def release_all(self) -> None:
        """Forget every allocation and remove the file."""
        with self._lock:
            self._by_uid.clear()
            self._as_text.clear()
            self._last = None
            if self.path is not None:
                try:
                    os.unlink(self.path)
                except FileNotFoundError:
                    pass
