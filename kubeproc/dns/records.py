"""Cluster DNS record table built from Services and EndpointSlices (pure).

Owns the mapping from API objects (core/v1 Service, discovery.k8s.io/v1
EndpointSlice dicts) to the names of the Kubernetes DNS-Based Service Discovery
specification, schema 1.1.0 (kubernetes/dns docs/specification.md, "spec §x"
below), with the name-existence rules of CoreDNS's `kubernetes` plugin
(plugin/kubernetes/kubernetes.go findServices) so NXDOMAIN vs NODATA match it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

SCHEMA_VERSION = "1.1.0"
# CoreDNS serves dns-version with a fixed TTL (plugin/kubernetes/kubernetes.go Services).
VERSION_TTL = 28800
SERVICE_NAME_LABEL = "kubernetes.io/service-name"

# Query/record types used in the table (RFC 1035 / 2782 / 3596 numbers).
A, NS, CNAME, SOA, PTR, TXT, AAAA, SRV = 1, 2, 5, 6, 12, 16, 28, 33

# rdata forms: A/AAAA -> ip str; CNAME/PTR -> target fqdn; TXT -> str;
# SRV -> (priority, weight, port, target fqdn).
RData = Any
RRSets = dict[int, tuple[RData, ...]]


@dataclass
class Table:
    """The record table for one zone; `names` holds every in-zone name that exists.

    A name present in `names` answers NOERROR (its rrset for the type, else NODATA);
    an in-zone name absent from it answers NXDOMAIN. `strict` names exist only for
    the types they hold (CoreDNS: dns-version.<zone> A -> NXDOMAIN).
    `ptr` maps reverse names (in-addr.arpa / ip6.arpa) to PTR targets.
    `cache` belongs to the resolver (encoded answers); a new table starts empty.
    """

    zone: str
    names: dict[str, RRSets]
    strict: frozenset[str]
    ptr: dict[str, tuple[str, ...]]
    namespaces: frozenset[str]
    serial: int = 1
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)


def fqdn(name: str) -> str:
    """Lowercase with exactly one trailing dot (spec §2.1: comparisons are case-insensitive)."""
    return name.lower().rstrip(".") + "."


def dashed(ip: str) -> str:
    """The system-assigned endpoint hostname CoreDNS uses: IP with '.'/':' -> '-'."""
    # plugin/kubernetes/kubernetes.go endpointHostname
    return ip.replace(".", "-").replace(":", "-")


def reverse_name(ip: str) -> str:
    """<d>.<c>.<b>.<a>.in-addr.arpa. (spec §2.3.3) or the ip6.arpa nibble form."""
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _ip_type(ip: str) -> int | None:
    try:
        return A if ipaddress.ip_address(ip).version == 4 else AAAA
    except ValueError:
        return None


def _endpoint_ready(endpoint: Mapping[str, Any], publish_not_ready: bool) -> bool:
    """Spec §2.1 _ready_: conditions.ready, or the Service publishes not-ready addresses.

    EndpointSlice API: a nil `ready` means unknown and consumers should treat it as
    ready. `serving`/`terminating` are not consulted: the EndpointSlice controller
    already folds them into `ready` (pkg/controller/endpointslice utils podToEndpoint),
    and CoreDNS reads only `ready`.
    """
    if publish_not_ready:
        return True
    ready = (endpoint.get("conditions") or {}).get("ready")
    return ready is None or bool(ready)


class _Builder:
    def __init__(self, zone: str) -> None:
        self.zone = fqdn(zone)
        self.names: dict[str, dict[int, list[RData]]] = {}
        self.ptr: dict[str, list[str]] = {}
        self.ptr_vip: dict[str, list[str]] = {}

    def touch(self, name: str) -> dict[int, list[RData]]:
        return self.names.setdefault(name, {})

    def add(self, name: str, rtype: int, rdata: RData) -> None:
        rrs = self.touch(name).setdefault(rtype, [])
        if rdata not in rrs:  # CoreDNS dedups A/AAAA (plugin/backend_lookup.go A)
            rrs.append(rdata)

    def add_ptr(self, ip: str, target: str, vip: bool = False) -> None:
        targets = (self.ptr_vip if vip else self.ptr).setdefault(reverse_name(ip), [])
        if target not in targets:
            targets.append(target)

    def add_srv(self, name: str, port: int, target: str) -> None:
        self.add(name, SRV, (0, 0, port, target))


def _slices_by_service(slices: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for es in slices:
        meta = es.get("metadata") or {}
        svc = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if svc:
            out.setdefault((meta.get("namespace") or "default", svc), []).append(es)
    return out


def _add_endpoints(b: _Builder, base: str, slices: list[Mapping[str, Any]],
                   publish_not_ready: bool, headless: bool) -> None:
    """Endpoint names for a Service (spec §2.4; CoreDNS also serves them for ClusterIP).

    headless: the Service name itself answers A/AAAA per ready address (§2.4.1) and
    SRV per ready endpoint x port (§2.4.2); `<hostname>.<svc>...` answers A/AAAA
    for every service (kubernetes.go findServices: `svc.Headless() || r.endpoint != ""`).
    """
    for es in slices:
        ports = [p for p in (es.get("ports") or []) if p.get("port") is not None]
        for ep in es.get("endpoints") or []:
            if not _endpoint_ready(ep, publish_not_ready):
                continue
            for ip in ep.get("addresses") or []:
                rtype = _ip_type(ip)
                if rtype is None:
                    continue
                host = (ep.get("hostname") or dashed(ip)).lower()
                target = f"{host}.{base}"
                b.add(target, rtype, ip)
                # §2.4.3: PTR of a ready endpoint -> <hostname>.<service>.<ns>.svc.<zone>;
                # CoreDNS (kubernetes/reverse.go serviceRecordForIP) does it for every Service's endpoints.
                b.add_ptr(ip, target)
                if headless:
                    b.add(base, rtype, ip)
                for p in ports:
                    port = int(p["port"])
                    proto = (p.get("protocol") or "TCP").lower()
                    b.add_srv(target, port, target)  # SRV on the endpoint name, port wildcard
                    if headless:
                        b.add_srv(base, port, target)  # SRV on the bare name: all ports
                        if p.get("name"):
                            # §2.4.2: _<port>._<proto>.<service>.<ns>.svc.<zone> -> <hostname>...
                            b.add_srv(f"_{p['name'].lower()}._{proto}.{base}", port, target)


def _add_service(b: _Builder, svc: Mapping[str, Any], slices: list[Mapping[str, Any]]) -> None:
    meta = svc.get("metadata") or {}
    spec = svc.get("spec") or {}
    ns, name = (meta.get("namespace") or "default").lower(), meta["name"].lower()
    base = f"{name}.{ns}.svc.{b.zone}"
    publish = bool(spec.get("publishNotReadyAddresses"))
    if spec.get("type") == "ExternalName":
        ext = spec.get("externalName") or ""
        # §2.5: CNAME to the external name; CoreDNS drops it when it is an IP (msg.Service.HostType).
        if ext and _ip_type(ext) is None:
            b.add(base, CNAME, fqdn(ext))
        return
    cluster_ip = spec.get("clusterIP") or ""
    if cluster_ip == "None":
        _add_endpoints(b, base, slices, publish, headless=True)
        return
    ports = spec.get("ports") or []
    if not ports:
        return  # CoreDNS findServices: no port matches -> errNoItems -> NXDOMAIN
    ips = spec.get("clusterIPs") or ([cluster_ip] if cluster_ip else [])
    b.touch(base)
    for ip in ips:
        rtype = _ip_type(ip)
        if rtype is None:
            continue
        b.add(base, rtype, ip)  # §2.3.1 A/AAAA -> cluster IP, with or without endpoints
        b.add_ptr(ip, base, vip=True)  # §2.3.3 PTR -> <service>.<ns>.svc.<zone>
    for p in ports:
        port = int(p["port"])
        proto = (p.get("protocol") or "TCP").lower()
        b.add_srv(base, port, base)
        if p.get("name"):
            # §2.3.2: SRV per named port, target the service name; unnamed ports have none
            b.add_srv(f"_{p['name'].lower()}._{proto}.{base}", port, base)
    _add_endpoints(b, base, slices, publish, headless=False)


def _weigh(rrsets: dict[int, list[RData]]) -> RRSets:
    """Freeze rrsets; SRV weight = floor(100 / n) at priority 0 (CoreDNS plugin/backend_lookup.go SRV)."""
    out: RRSets = {}
    for rtype, rrs in rrsets.items():
        if rtype == SRV:
            w = 100 // len(rrs) if rrs else 0
            out[rtype] = tuple((0, w, port, target) for (_, _, port, target) in rrs)
        else:
            out[rtype] = tuple(rrs)
    return out


def build(services: Iterable[Mapping[str, Any]], slices: Iterable[Mapping[str, Any]],
          zone: str = "cluster.local", namespaces: Iterable[str] | None = None,
          serial: int = 1) -> Table:
    """Build the record table. Inputs are not mutated.

    `namespaces`: names of existing Namespaces (CoreDNS answers `<ns>.svc.<zone>` with
    NODATA iff the namespace exists); None means "the namespaces that have Services".
    """
    services = list(services)
    b = _Builder(zone)
    by_svc = _slices_by_service(slices)
    if namespaces is not None:
        ns_set = {n.lower() for n in namespaces}
    else:
        ns_set = {((s.get("metadata") or {}).get("namespace") or "default").lower() for s in services}
    # Apex, svc and pod names exist with no data (parse.go parseRequest: NODATA for apex queries).
    for name in (b.zone, f"svc.{b.zone}", f"pod.{b.zone}"):
        b.touch(name)
    for ns in ns_set:
        b.touch(f"{ns}.svc.{b.zone}")
        b.touch(f"{ns}.pod.{b.zone}")
    # §2.2: dns-version.<zone> TXT <schema-version>
    version = f"dns-version.{b.zone}"
    b.add(version, TXT, SCHEMA_VERSION)
    for svc in services:
        meta = svc.get("metadata") or {}
        ns = (meta.get("namespace") or "default").lower()
        if ns not in ns_set or not meta.get("name"):
            continue  # CoreDNS namespaceExposed: a Service in a missing namespace is invisible
        _add_service(b, svc, by_svc.get((meta.get("namespace") or "default", meta["name"]), []))
    return Table(
        zone=b.zone,
        names={n: _weigh(r) for n, r in b.names.items()},
        strict=frozenset({version}),
        # A ClusterIP match wins over endpoint matches (reverse.go serviceRecordForIP: first service only).
        ptr={**{n: tuple(t) for n, t in b.ptr.items()}, **{n: tuple(t[:1]) for n, t in b.ptr_vip.items()}},
        namespaces=frozenset(ns_set),
        serial=serial,
    )
