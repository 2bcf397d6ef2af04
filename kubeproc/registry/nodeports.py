"""NodePort allocation for Services of type NodePort and LoadBalancer.

Ports pkg/registry/core/service/portallocator (a port range with the static band of KEP-3668:
dynamic allocations prefer the upper band) and the storage's use of it
(pkg/registry/core/service/storage/alloc.go: initNodePorts, updateNodePorts and the
healthCheckNodePort rules). Ports in use are the stored Services' nodePorts and health-check
ports, plus those handed out recently whose write has not reached the store yet.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from kubeproc.api import errors
from kubeproc.api.validation import fielderr

DEFAULT_RANGE = "30000-32767"
RECENT_SECONDS = 60.0


def parse_port_range(text: str) -> tuple[int, int]:
    """(base, size) of "30000-32767", "30000+2767" or "30000" (apimachinery net.ParsePortRange)."""
    raw = text.strip()
    try:
        if "-" in raw:
            low, high = (int(x) for x in raw.split("-", 1))
        elif "+" in raw:
            low, extra = (int(x) for x in raw.split("+", 1))
            high = low + extra
        else:
            low = high = int(raw)
    except ValueError:
        raise ValueError(f"unable to parse port range: {text}") from None
    if not (0 <= low <= high <= 65535):
        raise ValueError(f"invalid port range: {text}")
    return low, high - low + 1


def static_band(size: int) -> int:
    # portallocator calculateRangeOffset: min(max(16, size/32), 128); none for tiny ranges
    if size <= 16:
        return 0
    return min(max(16, size // 32), 128)


def _spec(svc: dict[str, Any]) -> dict[str, Any]:
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def _ports(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def needs_node_port(spec: dict[str, Any]) -> bool:
    # storage.go needsNodePort
    return spec.get("type") in ("NodePort", "LoadBalancer")


def needs_health_check(spec: dict[str, Any]) -> bool:
    # pkg/api/service NeedsHealthCheck
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def should_allocate(spec: dict[str, Any]) -> bool:
    # alloc.go shouldAllocateNodePorts (ServiceLBNodePortControl is GA)
    if spec.get("type") == "NodePort":
        return True
    return spec.get("type") == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False


def service_node_ports(spec: dict[str, Any]) -> list[int]:
    """alloc.go collectServiceNodePorts: the non-zero spec.ports[].nodePort values."""
    return [n for n in (_int(p.get("nodePort")) for p in _ports(spec)) if n]


def ports_in_use(services: Iterable[dict[str, Any]]) -> set[int]:
    """Every nodePort and health-check port the given (stored) Services hold."""
    used: set[int] = set()
    for svc in services:
        spec = _spec(svc)
        used.update(service_node_ports(spec))
        if needs_health_check(spec) and _int(spec.get("healthCheckNodePort")):
            used.add(_int(spec.get("healthCheckNodePort")))
    return used


def _owner(svc: dict[str, Any]) -> str:
    meta = svc.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _invalid(name: str, index: int, port: int, detail: str) -> errors.StatusError:
    # alloc.go: field.Invalid(spec.ports[i].nodePort, np, err.Error())
    cause = fielderr.invalid(f"spec.ports[{index}].nodePort", port, detail)
    return errors.Invalid.of("Service", "", name, [cause])


@dataclass
class _Operation:
    """One request's allocations (portallocator.PortAllocationOperation): checked against the
    ports in use and against each other; remembered only once the request is accepted."""
    alloc: "NodePorts"
    used: set[int]
    taken: list[int] = field(default_factory=list)

    def allocate(self, port: int) -> str:
        """The allocator's error message, or "" once `port` is reserved."""
        if not self.alloc.contains(port):
            return ("provided port is not in the valid range. The range of valid ports is "
                    + self.alloc.range_text)
        if port in self.used:
            return "provided port is already allocated"
        self.used.add(port)
        self.taken.append(port)
        return ""

    def allocate_next(self) -> int:
        port = self.alloc.pick(self.used)
        if port is None:
            return 0
        self.used.add(port)
        self.taken.append(port)
        return port


class NodePorts:
    def __init__(self, port_range: str = DEFAULT_RANGE, rand: random.Random | None = None) -> None:
        self.base, self.size = parse_port_range(port_range)
        self.range_text = f"{self.base}-{self.base + self.size - 1}"
        self.static_band = static_band(self.size)
        self._rand = rand or random.Random()
        # port -> (when, owner "ns/name", owner's committed resourceVersion at the time)
        self._recent: dict[int, tuple[float, str, str | None]] = {}

    def contains(self, port: int) -> bool:
        return self.base <= port < self.base + self.size

    def pick(self, used: set[int]) -> int | None:
        """bitmap AllocateNext with offset: a random free port in the upper band, else the lower."""
        for lo, hi in ((self.static_band, self.size), (0, self.static_band)):
            if hi <= lo:
                continue
            start = self._rand.randrange(lo, hi)
            for i in range(hi - lo):
                port = self.base + lo + (start - lo + i) % (hi - lo)
                if port not in used:
                    return port
        return None

    def _begin(self, stored: list[dict[str, Any]]) -> _Operation:
        # a recent hand-out counts until its owner's stored state moves on (the write committed,
        # so the store speaks for it) or a minute passes (the write never happened)
        now = time.monotonic()
        versions = {_owner(s): (s.get("metadata") or {}).get("resourceVersion") for s in stored}
        self._recent = {p: r for p, r in self._recent.items()
                        if now - r[0] < RECENT_SECONDS and versions.get(r[1]) == r[2]}
        return _Operation(self, ports_in_use(stored) | set(self._recent))

    def _commit(self, op: _Operation, svc: dict[str, Any], stored: list[dict[str, Any]],
                dry_run: bool) -> None:
        if dry_run:  # a dry run checks but reserves nothing (portallocator dry-run operation)
            return
        owner = _owner(svc)
        rv = next(((s.get("metadata") or {}).get("resourceVersion")
                   for s in stored if _owner(s) == owner), None)
        now = time.monotonic()
        for port in op.taken:
            self._recent[port] = (now, owner, rv)

    def forget(self, namespace: str, name: str) -> None:
        """The Service is deleted: its recent hand-outs are free (releaseAllocatedResources)."""
        owner = f"{namespace}/{name}"
        self._recent = {p: r for p, r in self._recent.items() if r[1] != owner}

    def allocate_create(self, svc: dict[str, Any], stored: Iterable[dict[str, Any]],
                        dry_run: bool = False) -> None:
        """Fill the nodePorts (and healthCheckNodePort) a new, defaulted Service needs, in place.
        `stored` are the Services in the store. Raises 422 for a requested port that is taken
        or outside the range, 500 when the range is full (alloc.go txnAllocNodePorts)."""
        stored = list(stored)
        spec = _spec(svc)
        name = (svc.get("metadata") or {}).get("name", "")
        op = self._begin(stored)
        if needs_node_port(spec):
            self._init_node_ports(name, spec, op)
        if needs_health_check(spec):
            self._alloc_health_check(spec, op)
        self._commit(op, svc, stored, dry_run)

    def allocate_update(self, svc: dict[str, Any], old: dict[str, Any],
                        stored: Iterable[dict[str, Any]], dry_run: bool = False) -> None:
        """Fill what an updated, defaulted Service needs that `old` did not hold, in place
        (alloc.go txnUpdateNodePorts). Ports `old` holds stay its own; dropped ones are free
        once the update is stored."""
        stored = list(stored)
        spec, old_spec = _spec(svc), _spec(old)
        name = (svc.get("metadata") or {}).get("name", "")
        op = self._begin(stored)
        if needs_node_port(spec):
            self._update_node_ports(name, spec, old_spec, op)
        if needs_health_check(spec) and not needs_health_check(old_spec):
            # updateHealthCheckNodePort case 1: a transition to needing one
            self._alloc_health_check(spec, op)
        self._commit(op, svc, stored, dry_run)

    @staticmethod
    def _init_node_ports(name: str, spec: dict[str, Any], op: _Operation) -> None:
        # alloc.go initNodePorts: ports of the same number (e.g. 53/TCP and 53/UDP) share one
        ports = _ports(spec)
        by_number: dict[int, int] = {}
        for i, sp in enumerate(ports):
            node_port = _int(sp.get("nodePort"))
            if not node_port and not should_allocate(spec):
                continue  # respect explicit requests only
            number = _int(sp.get("port"))
            shared = by_number.get(number, 0)
            if not shared:
                # findRequestedNodePort: a later port of this number may name the nodePort
                wanted = next((_int(p.get("nodePort")) for p in ports
                               if _int(p.get("port")) == number and _int(p.get("nodePort"))), 0)
                if wanted:
                    if msg := op.allocate(wanted):
                        raise _invalid(name, i, wanted, msg)
                    sp["nodePort"] = by_number[number] = wanted
                else:
                    got = op.allocate_next()
                    if not got:
                        raise _range_full("failed to allocate a nodePort: range is full")
                    sp["nodePort"] = by_number[number] = got
            elif node_port != shared:
                if not node_port:
                    sp["nodePort"] = shared
                elif msg := op.allocate(node_port):
                    raise _invalid(name, i, node_port, msg)

    @staticmethod
    def _update_node_ports(name: str, spec: dict[str, Any], old_spec: dict[str, Any],
                           op: _Operation) -> None:
        # alloc.go updateNodePorts: the old Service's ports are already its own
        old_ports = service_node_ports(old_spec)
        mine: set[int] = set()
        for i, sp in enumerate(_ports(spec)):
            node_port = _int(sp.get("nodePort"))
            if not node_port and not should_allocate(spec):
                continue
            if node_port:
                if node_port not in old_ports and node_port not in mine:
                    if msg := op.allocate(node_port):
                        raise _invalid(name, i, node_port, msg)
                    mine.add(node_port)
            else:
                got = op.allocate_next()
                if not got:
                    raise _range_full("failed to allocate a nodePort: range is full")
                sp["nodePort"] = got

    @staticmethod
    def _alloc_health_check(spec: dict[str, Any], op: _Operation) -> None:
        # alloc.go allocHealthCheckNodePort; its errors surface as internal errors
        wanted = _int(spec.get("healthCheckNodePort"))
        if wanted:
            if msg := op.allocate(wanted):
                raise _range_full(f"failed to allocate requested HealthCheck NodePort {wanted}: {msg}")
            return
        got = op.allocate_next()
        if not got:
            raise _range_full("failed to allocate a HealthCheck NodePort 0: range is full")
        spec["healthCheckNodePort"] = got


def _range_full(detail: str) -> errors.StatusError:
    # errors.NewInternalError
    return errors.InternalError(f"Internal error occurred: {detail}")
