"""Pure planning for the Endpoints controller: a Service's selected pods -> the core/v1
Endpoints object (subsets with addresses / notReadyAddresses), or None when it is current.

Follows pkg/controller/endpoint/endpoints_controller.go (syncService, addEndpointSubset,
podToEndpointAddressForService) and pkg/api/v1/endpoints RepackSubsets.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kubeproc.controllers.endpointslice.plan import (
    LABEL_HEADLESS, TRIGGER_TIME, ip_family, endpoint_ports, is_pod_ready, pod_ips,
    should_pod_be_in_endpoints, should_set_hostname)

OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_CAPACITY = 1000
Obj = dict[str, Any]


def pod_address(pod: Mapping[str, Any], svc: Mapping[str, Any]) -> Obj | None:
    """podToEndpointAddressForService: the pod IP of the Service's (first) IP family."""
    spec = svc.get("spec") or {}
    family = (spec.get("ipFamilies") or ["IPv4"])[0]
    ip = next((i for i in pod_ips(pod) if ip_family(i) == family), None)
    if ip is None:
        return None
    meta = pod.get("metadata") or {}
    addr: Obj = {"ip": ip}
    if should_set_hostname(pod, svc):
        addr["hostname"] = pod["spec"]["hostname"]
    if (pod.get("spec") or {}).get("nodeName"):
        addr["nodeName"] = pod["spec"]["nodeName"]
    addr["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""),
                         "name": meta.get("name", ""), "uid": meta.get("uid", "")}
    return addr


def _addr_key(a: Mapping[str, Any]) -> tuple[str, str]:
    return a.get("ip", ""), (a.get("targetRef") or {}).get("uid", "")


def subsets_for(svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """syncService's loop + RepackSubsets: group addresses by the port set they offer; an
    address not ready on any port is not ready there (not-ready trumps ready)."""
    spec = svc.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    addrs: dict[tuple[str, str], Obj] = {}
    by_port: dict[str, dict[tuple[str, str], bool]] = {}  # port json -> address -> ready
    for pod in pods:
        if not should_pod_be_in_endpoints(pod, publish):
            continue
        addr = pod_address(pod, svc)
        if addr is None:
            continue
        ready = publish or is_pod_ready(pod)
        if spec.get("ports"):
            ports = [json.dumps(p, sort_keys=True) for p in endpoint_ports(svc, pod)]
        elif spec.get("clusterIP") == "None":
            ports = [""]  # headless without ports: the address alone (RepackSubsets sentinel)
        else:
            ports = []
        for port in ports:
            key = _addr_key(addr)
            addrs.setdefault(key, addr)
            seen = by_port.setdefault(port, {})
            seen[key] = seen.get(key, True) and ready
    groups: dict[str, tuple[dict[tuple[str, str], bool], list[Obj]]] = {}
    for port, members in by_port.items():
        gk = json.dumps(sorted((k, v) for k, v in members.items()))
        entry = groups.setdefault(gk, (members, []))
        if port:
            entry[1].append(json.loads(port))
    out: list[Obj] = []
    for members, ports in groups.values():
        subset: Obj = {}
        # SortSubsets orders by a hash upstream; kubeproc sorts by IP and port (stable)
        ready = sorted((addrs[k] for k, r in members.items() if r), key=lambda a: a["ip"])
        not_ready = sorted((addrs[k] for k, r in members.items() if not r), key=lambda a: a["ip"])
        if ready:
            subset["addresses"] = [copy.deepcopy(a) for a in ready]
        if not_ready:
            subset["notReadyAddresses"] = [copy.deepcopy(a) for a in not_ready]
        if ports:
            subset["ports"] = sorted(ports, key=lambda p: (p.get("name", ""), p["port"],
                                                           p.get("protocol", "")))
        out.append(subset)
    return sorted(out, key=lambda s: json.dumps(s, sort_keys=True))


def _truncate(subsets: list[Obj]) -> bool:
    # truncateEndpoints: over 1000 addresses, keep each subset's share (ready ones first)
    total = sum(len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ())
                for s in subsets)
    if total <= MAX_CAPACITY:
        return False
    budget = MAX_CAPACITY
    for s in subsets:
        for field in ("addresses", "notReadyAddresses"):
            if s.get(field):
                s[field] = s[field][:max(0, min(len(s[field]), budget))]
                budget -= len(s[field])
                if not s[field]:
                    del s[field]
    return True


def _strip_rv(subsets: Any) -> str:
    # endpointSubsetsEqualIgnoreResourceVersion: a pod's resourceVersion is not a change
    def clean(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items() if k != "resourceVersion"}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v
    return json.dumps(clean(subsets or []), sort_keys=True)


def desired_endpoints(svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]],
                      current: Mapping[str, Any] | None, trigger_time: str = "") -> Obj | None:
    """syncService: the Endpoints to create (no `current`) or write back, or None when
    `current` already has these subsets and the Service's labels."""
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    subsets = subsets_for(svc, pods)
    svc_labels = dict(meta.get("labels") or {})
    if current is not None:
        cur_labels = {k: v for k, v in ((current.get("metadata") or {}).get("labels")
                                        or {}).items() if k != LABEL_HEADLESS}
        cur_ann = (current.get("metadata") or {}).get("annotations") or {}
        capacity_ok = OVER_CAPACITY not in cur_ann or sum(
            len(s.get("addresses") or ()) + len(s.get("notReadyAddresses") or ())
            for s in current.get("subsets") or ()) > MAX_CAPACITY
        if (_strip_rv(current.get("subsets")) == _strip_rv(subsets)
                and cur_labels == svc_labels and capacity_ok):
            return None
        new = copy.deepcopy(dict(current))
    else:
        new = {"apiVersion": "v1", "kind": "Endpoints",
               "metadata": {"name": meta.get("name", ""), "namespace": meta.get("namespace", "")}}
    new.pop("subsets", None)
    if subsets:  # omitempty: an Endpoints without addresses has no subsets key
        new["subsets"] = subsets
    ann = dict(new["metadata"].get("annotations") or {})
    if trigger_time:
        ann[TRIGGER_TIME] = trigger_time
    else:
        ann.pop(TRIGGER_TIME, None)
    if _truncate(subsets):
        ann[OVER_CAPACITY] = "truncated"
    else:
        ann.pop(OVER_CAPACITY, None)
    new["metadata"]["annotations"] = ann
    labels = dict(svc_labels)
    if spec.get("clusterIP") in (None, "", "None"):  # !IsServiceIPSet: mark headless
        labels[LABEL_HEADLESS] = ""
    new["metadata"]["labels"] = labels
    for k in ("annotations", "labels"):  # omitempty maps
        if not new["metadata"][k]:
            del new["metadata"][k]
    return new
