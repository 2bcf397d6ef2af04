"""ClusterIP allocation for Services: single-stack IPv4 from the service CIDR.

Ports pkg/registry/core/service/ipallocator (bitmap allocator with the static subrange of
KEP-3070: dynamic allocations prefer the upper band, leaving the lower band to users who ask for
an address, e.g. 10.96.0.10 for DNS) and the storage's allocation on create
(pkg/registry/core/service/storage/alloc.go allocClusterIPs). Addresses in use are the stored
Services' clusterIPs plus those handed out in the last minute (their create may still be
committing); a deleted Service's address is free again once it is gone.

Also the update path's rules for a Service's allocated fields (storage.go patchAllocatedValues
and normalizeClusterIPs, strategy.go dropTypeDependentFields, alloc.go initIPFamilyFields and
updateClusterIPs) for the single-stack IPv4 cluster modelled here.
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

    def forget(self, ips: Iterable[str]) -> None:
        """Addresses whose Service is gone (deleted, or a create that failed) are free now."""
        for ip in ips:
            self._recent.pop(ip, None)

    def allocate_update(self, name: str, spec: dict[str, Any], old_spec: dict[str, Any],
                        in_store: Iterable[str]) -> None:
        """alloc.go updateClusterIPs case A: ExternalName to another type allocates as on create.
        (Case B, a release, needs nothing: in-use addresses are read from the store.)"""
        if old_spec.get("type") == "ExternalName" and spec.get("type") != "ExternalName":
            self.allocate(name, spec, in_store)

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


# ---- update path: allocated fields the client omitted, and fields the new type drops --------
def _type(spec: dict[str, Any]) -> str:
    return spec.get("type") or "ClusterIP"  # defaulting has not run yet on this path


def _needs_node_port(spec: dict[str, Any]) -> bool:
    return _type(spec) in ("NodePort", "LoadBalancer")


def _externally_accessible(spec: dict[str, Any]) -> bool:
    # pkg/api/service ExternallyAccessible
    return _needs_node_port(spec) or (_type(spec) == "ClusterIP" and bool(spec.get("externalIPs")))


def _needs_hc_node_port(spec: dict[str, Any]) -> bool:
    return _type(spec) == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def _node_port_set(spec: dict[str, Any]) -> set[int]:
    return {p["nodePort"] for p in spec.get("ports") or []
            if isinstance(p, dict) and isinstance(p.get("nodePort"), int) and p["nodePort"]}


def prepare_update(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Fix up a Service update in place before defaulting and validation: keep the allocated
    values the client omitted, mirror clusterIP into clusterIPs, drop what the new type no
    longer uses and the client did not change, and fill the IP family fields. Takes only
    copies of `old`'s values and replaces (never edits) new's status."""
    spec, old_spec = new.get("spec"), old.get("spec")
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return  # validation reports it
    _patch_allocated_values(spec, old_spec)
    _normalize_cluster_ips(spec, old_spec)
    _drop_type_dependent_fields(spec, old_spec)
    _init_ip_family_fields(spec, old_spec)
    status = new.get("status")
    if _type(spec) != "LoadBalancer" and isinstance(status, dict) and status.get("loadBalancer"):
        # dropTypeDependentFields: a load-balancer status no longer applies
        new["status"] = dict(status, loadBalancer={})


def _patch_allocated_values(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    # storage.go patchAllocatedValues: resubmitting the YAML that created it must succeed
    if _type(old_spec) != "ExternalName" and _type(spec) != "ExternalName":
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
        if not spec.get("clusterIPs") and old_spec.get("clusterIPs"):
            spec["clusterIPs"] = list(old_spec["clusterIPs"])
    if _needs_node_port(old_spec) and _needs_node_port(spec):
        # nodePorts are matched by port name; one the client put elsewhere is not reused
        used = _node_port_set(old_spec) & _node_port_set(spec)
        by_name = {p.get("name") or "": p.get("nodePort") for p in old_spec.get("ports") or []
                   if isinstance(p, dict)}
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and not p.get("nodePort"):
                old_value = by_name.get(p.get("name") or "")
                if isinstance(old_value, int) and old_value and old_value not in used:
                    p["nodePort"] = old_value
    if _needs_hc_node_port(old_spec) and _needs_hc_node_port(spec):
        if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _normalize_cluster_ips(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    # strategy.go NormalizeClusterIPs (update): a client may send only the singular field
    old_ip, new_ip = old_spec.get("clusterIP") or "", spec.get("clusterIP") or ""
    old_ips = list(old_spec.get("clusterIPs") or [])
    if old_ips and not spec.get("clusterIPs") and old_ip == new_ip:
        spec["clusterIPs"] = old_ips
    if old_ip != new_ip:
        same = list(spec.get("clusterIPs") or []) == old_ips
        if old_ip and not new_ip:
            if same:
                spec.pop("clusterIPs", None)
        elif same:
            spec["clusterIPs"] = [new_ip]


def _drop_type_dependent_fields(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    # strategy.go dropTypeDependentFields: wipe only what the client did not also change
    if _type(old_spec) != "ExternalName" and _type(spec) == "ExternalName":
        if (spec.get("clusterIP") or "") == (old_spec.get("clusterIP") or "") and \
                list(spec.get("clusterIPs") or []) == list(old_spec.get("clusterIPs") or []):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if (spec.get("ipFamilies") or []) == (old_spec.get("ipFamilies") or []):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    if _needs_node_port(old_spec) and not _needs_node_port(spec) and \
            _node_port_set(spec) <= _node_port_set(old_spec):
        for p in spec.get("ports") or []:
            if isinstance(p, dict):
                p.pop("nodePort", None)
    if _needs_hc_node_port(old_spec) and not _needs_hc_node_port(spec) and \
            (spec.get("healthCheckNodePort") or 0) == (old_spec.get("healthCheckNodePort") or 0):
        spec.pop("healthCheckNodePort", None)
    if _type(old_spec) == "LoadBalancer" and _type(spec) != "LoadBalancer":
        for key in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if key in spec and spec.get(key) == old_spec.get(key):
                spec.pop(key)
    if _externally_accessible(old_spec) and not _externally_accessible(spec) and \
            spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)


def _init_ip_family_fields(spec: dict[str, Any], old_spec: dict[str, Any]) -> None:
    # alloc.go initIPFamilyFields (update), single-stack IPv4 cluster: an omitted policy is the
    # old one; omitted families follow the cluster IPs
    if _type(spec) == "ExternalName":
        return
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        if old_spec.get("ipFamilyPolicy") is not None:
            spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
        else:
            spec["ipFamilyPolicy"] = "RequireDualStack" if headless_selectorless else "SingleStack"
    families = spec.get("ipFamilies")
    if isinstance(families, list) and families:
        return
    families = ["IPv6" if ":" in ip else "IPv4" for ip in spec.get("clusterIPs") or []
                if isinstance(ip, str) and ip and ip != "None"] or ["IPv4"]
    if headless_selectorless and len(families) < 2 and spec["ipFamilyPolicy"] != "SingleStack":
        families.append("IPv6" if families[0] == "IPv4" else "IPv4")
    spec["ipFamilies"] = families
