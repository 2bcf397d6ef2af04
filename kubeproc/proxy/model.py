"""Service ports as the proxy sees them, built from a Service and its EndpointSlices (pure).

Ports pkg/proxy/servicechangetracker.go / serviceport.go (which Services are proxied and with
what), pkg/proxy/endpointslicecache.go (endpoints merged across slices, deduplicated, matched to
a service port by port name and protocol) and pkg/proxy/topology.go CategorizeEndpoints (ready
endpoints, else serving-and-terminating ones; "local" endpoints for the Local traffic policies).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Iterable

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
DEFAULT_AFFINITY_TIMEOUT = 10800  # core/v1 DefaultClientIPServiceAffinitySeconds


@dataclass(frozen=True)
class Endpoint:
    ip: str
    port: int
    local: bool = True  # on this node (kube-proxy's IsLocal)


@dataclass(frozen=True)
class ServicePort:
    """One port of one Service: where it listens and which endpoints serve it."""

    namespace: str
    name: str
    port_name: str
    protocol: str  # "tcp" | "udp" | "sctp"
    cluster_ip: str
    port: int
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    affinity_seconds: int = 0  # 0: no session affinity
    external_local: bool = False  # externalTrafficPolicy: Local
    internal_local: bool = False  # internalTrafficPolicy: Local
    endpoints: tuple[Endpoint, ...] = field(default=())  # ready ones, else serving+terminating
    local_terminating: tuple[Endpoint, ...] = field(default=())  # local, serving+terminating
    serving_ips: frozenset[str] = frozenset()  # every serving endpoint's IP (conntrack cleanup)

    @property
    def key(self) -> str:
        """`<ns>/<name>/<proto>/<port name>`, as kube-proxy's ServicePortName prints."""
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port_name}"

    def _local(self) -> tuple[Endpoint, ...]:
        # topology.go: the Local policy takes the ready local endpoints, else the local ones
        # still serving while terminating (even when remote ones are ready)
        return tuple(e for e in self.endpoints if e.local) or self.local_terminating

    def cluster_endpoints(self) -> tuple[Endpoint, ...]:
        return self._local() if self.internal_local else self.endpoints

    def external_endpoints(self) -> tuple[Endpoint, ...]:
        return self._local() if self.external_local else self.endpoints


def is_proxied(svc: dict[str, Any]) -> bool:
    """serviceport.go / servicechangetracker: ExternalName and headless Services get no rules."""
    spec = svc.get("spec") or {}
    ip = spec.get("clusterIP") or ""
    if spec.get("type") == "ExternalName" or ip in ("", "None"):
        return False
    return _is_ipv4(ip)


def service_ports(svc: dict[str, Any], slices: Iterable[dict[str, Any]], node_name: str) -> list[ServicePort]:
    """The proxied ports of `svc` with their endpoints taken from `slices` (those of the Service;
    the caller selects them by the kubernetes.io/service-name label)."""
    if not is_proxied(svc):
        return []
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        affinity = int(cfg.get("timeoutSeconds") or DEFAULT_AFFINITY_TIMEOUT)
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    external_ips = tuple(ip for ip in spec.get("externalIPs") or [] if _is_ipv4(ip))
    by_port = _endpoints_by_port(slices, node_name)
    out = []
    for p in spec.get("ports") or []:
        proto = PROTOCOLS.get(p.get("protocol") or "TCP")
        if proto is None:
            continue
        name = p.get("name") or ""
        out.append(ServicePort(
            namespace=meta.get("namespace") or "", name=meta.get("name") or "", port_name=name,
            protocol=proto, cluster_ip=spec["clusterIP"], port=int(p.get("port") or 0),
            node_port=int(p.get("nodePort") or 0) if node_ports else 0,
            external_ips=external_ips, affinity_seconds=affinity,
            # externalTrafficPolicy only applies to external traffic: NodePort, LB, externalIPs
            external_local=spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            endpoints=_usable(by_port.get((name, proto), {})),
            local_terminating=_local_terminating(by_port.get((name, proto), {})),
            serving_ips=frozenset(ip for (ip, _), (_, serving, _, _) in by_port.get((name, proto), {}).items()
                                  if serving),
        ))
    return out


def _endpoints_by_port(slices: Iterable[dict[str, Any]], node_name: str) -> dict[tuple[str, str], dict]:
    """(port name, proto) → {(ip, port): (ready, serving, terminating, local)}; an endpoint
    listed by two slices counts once, the first seen wins (endpointslicecache dedup)."""
    out: dict[tuple[str, str], dict] = {}
    for sl in slices:
        if sl.get("addressType") not in (None, "IPv4"):
            continue
        for sp in sl.get("ports") or []:
            proto = PROTOCOLS.get(sp.get("protocol") or "TCP")
            port = sp.get("port")
            if proto is None or not port:
                continue
            bucket = out.setdefault((sp.get("name") or "", proto), {})
            for ep in sl.get("endpoints") or []:
                cond = ep.get("conditions") or {}
                ready = cond.get("ready") is not False  # nil means ready (discovery/v1)
                serving = cond.get("serving") is not False  # endpointslicecache.go: nil is true
                terminating = cond.get("terminating") is True
                local = bool(ep.get("nodeName")) and ep.get("nodeName") == node_name
                for ip in (ep.get("addresses") or [])[:1]:  # only the first address is used
                    if not _is_ipv4(ip):
                        continue
                    bucket.setdefault((ip, int(port)), (ready, serving, terminating, local))
    return out


def _usable(eps: dict[tuple[str, int], tuple[bool, bool, bool, bool]]) -> tuple[Endpoint, ...]:
    """topology.go CategorizeEndpoints: the ready endpoints; when none is ready, those still
    serving while terminating (so a rolling update never leaves a gap)."""
    ready = [(ip, port, local) for (ip, port), (r, _, _, local) in eps.items() if r]
    if not ready:
        ready = [(ip, port, local) for (ip, port), (_, s, t, local) in eps.items() if s and t]
    return tuple(Endpoint(ip, port, local) for ip, port, local in sorted(ready, key=_sort_key))


def _local_terminating(eps: dict[tuple[str, int], tuple[bool, bool, bool, bool]]) -> tuple[Endpoint, ...]:
    out = [(ip, port, True) for (ip, port), (r, s, t, local) in eps.items() if local and not r and s and t]
    return tuple(Endpoint(ip, port, local) for ip, port, local in sorted(out, key=_sort_key))


def _sort_key(e: tuple[str, int, bool]) -> tuple[bytes, int]:
    return socket.inet_aton(e[0]), e[1]


def _is_ipv4(s: str) -> bool:
    # inet_pton, not inet_aton: "1" or "10.1" are not addresses here (ipaddress agrees); ~10x
    # cheaper than ipaddress, which a full sync of thousands of endpoints feels
    try:
        socket.inet_pton(socket.AF_INET, s)
        return True
    except (OSError, TypeError):
        return False
