"""ClusterIP allocation for Services: single-stack IPv4 from the service CIDR.

Ports pkg/registry/core/service/ipallocator (bitmap allocator with the static subrange of
KEP-3070: dynamic allocations prefer the upper band, leaving the lower band to users who ask for
an address, e.g. 10.96.0.10 for DNS) and the storage's allocation on create
(pkg/registry/core/service/storage/alloc.go allocClusterIPs). Addresses in use are the stored
Services' clusterIPs plus those handed out in the last minute (their create may still be
committing); a deleted Service's address is free again once it is gone.
"""

from __future__ import annotations

import ipaddress
import random
import time
from typing import Any, Iterable

from kubeproc.api import errors
from kubeproc.api.validation import fielderr

DEFAULT_CIDR = "10.96.0.0/16"
RECENT_SECONDS = 60.0


class ServiceIPs:
    def __init__(self, cidr: str = DEFAULT_CIDR, rand: random.Random | None = None) -> None:
        self.net = ipaddress.ip_network(cidr)
        self._recent: dict[str, float] = {}
        self._rand = rand or random.Random()
        size = self.net.num_addresses - 2  # network and broadcast addresses are never handed out
        # ipallocator calculateRangeOffset: min(max(16, size/16), 256) addresses of static band
        self.static_band = min(max(16, size // 16), 256) if size >= 16 else 0
        self.size = size

    def _used(self, in_store: Iterable[str]) -> set[str]:
        now = time.monotonic()
        self._recent = {ip: t for ip, t in self._recent.items() if now - t < RECENT_SECONDS}
        return set(in_store) | set(self._recent)

    def allocate(self, name: str, spec: dict[str, Any], in_store: Iterable[str]) -> None:
        """Fill spec.clusterIP/clusterIPs of a new Service, or check the address it asks for.
        Raises errors.Invalid (422) as upstream: outside the range or already allocated."""
        if spec.get("type") == "ExternalName" or spec.get("clusterIP") == "None":
            return
        used = self._used(in_store)
        wanted = spec.get("clusterIP") or ""
        if wanted:
            ip = ipaddress.ip_address(wanted)
            if ip not in self.net or ip in (self.net.network_address, self.net.broadcast_address):
                raise self._invalid(name, wanted, f"failed to allocate IP {wanted}: the provided IP "
                                    f"({wanted}) is not in the valid range. The range of valid "
                                    f"IPs is {self.net}")
            if wanted in used:
                raise self._invalid(name, wanted, f"failed to allocate IP {wanted}: provided IP is "
                                            "already allocated")
            self._recent[wanted] = time.monotonic()
            return
        ip = self._pick(used)
        spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        self._recent[ip] = time.monotonic()

    def _pick(self, used: set[str]) -> str:
        """bitmap AllocateNext: a random free offset in the upper band, else in the lower."""
        base = int(self.net.network_address) + 1
        for lo, hi in ((self.static_band, self.size), (0, self.static_band)):
            if hi <= lo:
                continue
            start = self._rand.randrange(lo, hi)
            for i in range(hi - lo):
                offset = lo + (start - lo + i) % (hi - lo)
                ip = str(ipaddress.ip_address(base + offset))
                if ip not in used:
                    return ip
        raise errors.InternalError("range is full: no ClusterIP is free in " + str(self.net))

    @staticmethod
    def _invalid(name: str, ip: str, detail: str) -> errors.StatusError:
        # alloc.go: field.Invalid(spec.clusterIPs, service.Spec.ClusterIPs, ...) prints %#v
        cause = fielderr.invalid("spec.clusterIPs", fielderr.GoRepr(f'[]string{{"{ip}"}}'), detail)
        return errors.Invalid.of("Service", "", name, [cause])


def cluster_ips(services: Iterable[dict[str, Any]]) -> list[str]:
    out = []
    for s in services:
        for ip in (s.get("spec") or {}).get("clusterIPs") or []:
            if ip and ip != "None":
                out.append(ip)
    return out
