"""Pure planning for the EndpointSlice controller: a Service's selected pods -> endpoints,
grouped by resolved port set, packed into slices of at most `max_per_slice` endpoints.

Follows staging/src/k8s.io/endpointslice (reconciler.go, utils.go) and the pod helpers of
pkg/api/v1/pod and endpointslice/util that the Endpoints controller shares (it imports them).
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeproc.controllers.podcontrol import is_pod_ready

MANAGED_BY = "endpointslice-controller.k8s.io"
LABEL_SERVICE_NAME = "kubernetes.io/service-name"
LABEL_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
LABEL_HEADLESS = "service.kubernetes.io/headless"
TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
MAX_ENDPOINTS_PER_SLICE = 100
Obj = dict[str, Any]


# ---- pod helpers (shared with the Endpoints controller; IsPodReady from podcontrol) ---------
def pod_ips(pod: Mapping[str, Any]) -> list[str]:
    status = pod.get("status") or {}
    ips = [p.get("ip") for p in status.get("podIPs") or () if p.get("ip")]
    return ips or ([status["podIP"]] if status.get("podIP") else [])


def should_pod_be_in_endpoints(pod: Mapping[str, Any], include_terminating: bool) -> bool:
    # endpointslice/util ShouldPodBeInEndpoints: has an IP, not terminal, maybe not terminating
    if not pod_ips(pod):
        return False
    if not include_terminating and (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def should_set_hostname(pod: Mapping[str, Any], svc: Mapping[str, Any]) -> bool:
    # endpointslice/util ShouldSetHostname: pod hostname + subdomain naming this Service
    spec, pm, sm = pod.get("spec") or {}, pod.get("metadata") or {}, svc.get("metadata") or {}
    return bool(spec.get("hostname")) and spec.get("subdomain") == sm.get("name") \
        and pm.get("namespace") == sm.get("namespace")


def find_port(pod: Mapping[str, Any], svc_port: Mapping[str, Any]) -> int | None:
    """pkg/api/v1/pod FindPort: a numeric targetPort as is; a named one from the containers'
    (and restartable init containers') ports of the same protocol; None when unresolved."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = svc_port.get("protocol") or "TCP"
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or ()) + [
        c for c in spec.get("initContainers") or () if c.get("restartPolicy") == "Always"]
    for c in containers:
        for p in c.get("ports") or ():
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def endpoint_ports(svc: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    # utils.go getEndpointPorts: one per Service port that resolves on this pod
    out: list[Obj] = []
    for sp in (svc.get("spec") or {}).get("ports") or ():
        num = find_port(pod, sp)
        if num is None:
            continue
        port: Obj = {"name": sp.get("name") or "", "protocol": sp.get("protocol") or "TCP",
                     "port": num}
        if sp.get("appProtocol"):
            port["appProtocol"] = sp["appProtocol"]
        out.append(port)
    return out


def address_types(svc: Mapping[str, Any]) -> list[str]:
    # utils.go getAddressTypesForService: the Service's ipFamilies (IPv4 by default)
    return list((svc.get("spec") or {}).get("ipFamilies") or ()) or ["IPv4"]


def ip_family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return "IPv4"


def pod_to_endpoint(pod: Mapping[str, Any], svc: Mapping[str, Any], address_type: str) -> Obj:
    """utils.go podToEndpoint: ready = published or (serving and not terminating)."""
    meta = pod.get("metadata") or {}
    serving = is_pod_ready(pod)
    terminating = bool(meta.get("deletionTimestamp"))
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: Obj = {"addresses": [ip for ip in pod_ips(pod) if ip_family(ip) == address_type],
               "conditions": {"ready": publish or (serving and not terminating),
                              "serving": serving, "terminating": terminating}}
    if should_set_hostname(pod, svc):
        ep["hostname"] = pod["spec"]["hostname"]
    ep["targetRef"] = {"kind": "Pod", "namespace": meta.get("namespace", ""),
                       "name": meta.get("name", ""), "uid": meta.get("uid", "")}
    if (pod.get("spec") or {}).get("nodeName"):
        ep["nodeName"] = pod["spec"]["nodeName"]
    return ep


# ---- trigger time ---------------------------------------------------------------------
@dataclass
class TriggerTimeTracker:
    """endpointslice/util TriggerTimeTracker: the earliest pod Ready transition or Service
    creation that changed since the last sync of that Service ("" when nothing did)."""
    states: dict[tuple[str, str], tuple[dict[str, str], str]] = field(default_factory=dict)

    def compute(self, svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> str:
        meta = svc.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        known = key in self.states
        last_pods, last_svc = self.states.get(key, ({}, ""))
        changed: list[str] = []
        now_pods: dict[str, str] = {}
        for pod in pods:
            ready = next((c for c in (pod.get("status") or {}).get("conditions") or ()
                          if c.get("type") == "Ready"), None)
            t = (ready or {}).get("lastTransitionTime") or ""
            if t:
                name = (pod.get("metadata") or {}).get("name", "")
                now_pods[name] = t
                if t > last_pods.get(name, ""):
                    changed.append(t)
        svc_time = meta.get("creationTimestamp") or ""
        if svc_time > last_svc:
            changed.append(svc_time)
        self.states[key] = (now_pods, svc_time)
        if not known:
            return svc_time  # a new Service: the time it was created
        return min(changed) if changed else ""

    def forget(self, namespace: str, name: str) -> None:
        self.states.pop((namespace, name), None)


# ---- slices ---------------------------------------------------------------------------
@dataclass
class SlicePlan:
    create: list[Obj] = field(default_factory=list)
    update: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # pods left out: their Node is unknown


def _port_key(ports: Iterable[Mapping[str, Any]] | None) -> str:
    # endpointutil NewPortMapKey: order-insensitive identity of a port set
    return json.dumps(sorted(json.dumps(dict(p), sort_keys=True) for p in ports or ()))


def _ep_key(ep: Mapping[str, Any]) -> str:
    # endpointslice/util hashEndpoint: addresses, hostname and the target's namespace/name
    ref = ep.get("targetRef") or {}
    return json.dumps([sorted(ep.get("addresses") or ()), ep.get("hostname") or "",
                       ref.get("namespace", ""), ref.get("name", "")])


def slice_labels(svc: Mapping[str, Any]) -> dict[str, str]:
    # utils.go setEndpointSliceLabels: the Service's labels, headless marker, ours last
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if k not in (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)}
    if spec.get("clusterIP") in (None, "", "None"):
        labels[LABEL_HEADLESS] = ""
    labels[LABEL_SERVICE_NAME] = meta.get("name", "")
    labels[LABEL_MANAGED_BY] = MANAGED_BY
    return labels


def _own_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    return {k: v for k, v in (labels or {}).items()
            if k not in (LABEL_SERVICE_NAME, LABEL_MANAGED_BY, LABEL_HEADLESS)}


def owned_by(slc: Mapping[str, Any], svc: Mapping[str, Any]) -> bool:
    uid = (svc.get("metadata") or {}).get("uid")
    return any(r.get("kind") == "Service" and r.get("uid") == uid
               for r in (slc.get("metadata") or {}).get("ownerReferences") or ())


def new_slice(svc: Mapping[str, Any], ports: list[Obj], address_type: str) -> Obj:
    # utils.go newEndpointSlice: generateName "<svc>-", controller ref to the Service
    meta = svc.get("metadata") or {}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"generateName": meta.get("name", "") + "-",
                         "namespace": meta.get("namespace", ""), "labels": slice_labels(svc),
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": meta.get("name", ""),
                                              "uid": meta.get("uid", ""), "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": address_type, "endpoints": [], "ports": copy.deepcopy(ports)}


def _slice_to_fill(slices: list[Obj], n: int, maximum: int) -> Obj | None:
    # reconciler_helpers.go getSliceToFill: the fullest slice the rest still fits in
    best, best_diff = None, maximum
    for s in slices:
        diff = maximum - (n + len(s.get("endpoints") or ()))
        if 0 <= diff < best_diff:
            best, best_diff = s, diff
    return best


def _relabelled(old: Mapping[str, Any], endpoints: list[Obj], labels: dict[str, str]) -> Obj:
    new = copy.deepcopy(dict(old))
    new["endpoints"] = endpoints
    new["metadata"]["labels"] = dict(labels)
    return new


def _by_port_mapping(svc: Mapping[str, Any], existing: list[Obj], desired: dict[str, Obj],
                     ports: list[Obj], address_type: str, maximum: int) -> SlicePlan:
    """reconciler.go reconcileByPortMapping: drop/refresh endpoints in place, top up the slices
    being updated anyway, then fit the rest into one unchanged slice or new ones."""
    out = SlicePlan()
    labels = slice_labels(svc)
    unchanged: list[Obj] = []
    to_update: list[Obj] = []
    for old in existing:
        kept, changed = [], False
        for ep in old.get("endpoints") or ():
            want = desired.pop(_ep_key(ep), None)
            if want is not None:
                kept.append(want)
                changed |= want != ep
        if changed or len(kept) != len(old.get("endpoints") or ()):
            if not kept:
                out.delete.append(old)
            else:
                to_update.append(_relabelled(old, kept, labels))
        elif _own_labels((old.get("metadata") or {}).get("labels")) != _own_labels(labels):
            # setEndpointSliceLabels: only the Service's own labels count as a change
            to_update.append(_relabelled(old, kept, labels))
        else:
            unchanged.append(old)
    rest = list(desired.values())
    for s in sorted(to_update, key=lambda s: -len(s["endpoints"])):  # fullest first
        while rest and len(s["endpoints"]) < maximum:
            s["endpoints"].append(rest.pop(0))
    while rest:
        fill = _slice_to_fill(unchanged, len(rest), maximum) if len(rest) < maximum else None
        if fill is None:
            fill = new_slice(svc, ports, address_type)
            out.create.append(fill)
        else:
            unchanged.remove(fill)
            fill = _relabelled(fill, list(fill.get("endpoints") or ()), labels)
            to_update.append(fill)
        while rest and len(fill["endpoints"]) < maximum:
            fill["endpoints"].append(rest.pop(0))
    out.update.extend(to_update)
    return out


def _placeholder_like(slc: Mapping[str, Any], placeholder: Mapping[str, Any]) -> bool:
    # reconciler.go placeholderSliceCompare: namespace, labels, owners and the body
    a, b = slc.get("metadata") or {}, placeholder["metadata"]
    return (not slc.get("endpoints") and not slc.get("ports")
            and slc.get("addressType") == placeholder["addressType"]
            and a.get("namespace") == b["namespace"] and (a.get("labels") or {}) == b["labels"]
            and a.get("ownerReferences") == b["ownerReferences"])


def reconcile(svc: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], existing: list[Obj],
              trigger_time: str = "", maximum: int = MAX_ENDPOINTS_PER_SLICE,
              nodes: Collection[str] | None = None) -> SlicePlan:
    """reconciler.go reconcile + reconcileByAddressType + finalize for one Service with a
    selector: `pods` are the pods it selects, `existing` the slices we manage for it, `nodes`
    the Node names that exist (None: do not check)."""
    out = SlicePlan()
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    pods = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", ""))
    types = address_types(svc)
    for slc in existing:  # wrong address family, or another (older) Service's: delete
        if slc.get("addressType") not in types or not owned_by(slc, svc):
            out.delete.append(slc)
    existing = [s for s in existing if s not in out.delete]
    for atype in types:
        mine = [s for s in existing if s.get("addressType") == atype]
        desired: dict[str, dict[str, Obj]] = {}
        ports_of: dict[str, list[Obj]] = {}
        for pod in pods:
            if not should_pod_be_in_endpoints(pod, True):
                continue
            ports = endpoint_ports(svc, pod)
            pk = _port_key(ports)
            ports_of.setdefault(pk, ports)
            group = desired.setdefault(pk, {})
            node = (pod.get("spec") or {}).get("nodeName") or ""
            if nodes is not None and node not in nodes and not publish:
                # reconcileByAddressType: a pod on an unknown Node is left out and retried
                out.skipped.append((pod.get("metadata") or {}).get("name", ""))
                continue
            ep = pod_to_endpoint(pod, svc, atype)
            if ep["addresses"]:
                group.setdefault(_ep_key(ep), ep)
        by_ports: dict[str, list[Obj]] = {}
        deletes: list[Obj] = []
        for s in mine:
            pk = _port_key(s.get("ports"))
            (by_ports.setdefault(pk, []) if pk in desired else deletes).append(s)
        creates: list[Obj] = []
        for pk, eps in desired.items():
            part = _by_port_mapping(svc, by_ports.get(pk, []), eps, ports_of[pk], atype, maximum)
            creates += part.create
            out.update += part.update
            deletes += part.delete
        if len(mine) == len(deletes) and not creates:
            # reconciler.go: a Service with no endpoints keeps exactly one empty placeholder
            placeholder = new_slice(svc, [], atype)
            if len(deletes) == 1 and _placeholder_like(deletes[0], placeholder):
                deletes = []
            else:
                creates.append(placeholder)
        # finalize: turn creates into updates of slices that would be deleted
        while creates and deletes:
            victim, slc = deletes.pop(0), creates.pop()
            meta = slc["metadata"]
            del meta["generateName"]
            meta["name"] = victim["metadata"]["name"]
            if victim["metadata"].get("resourceVersion"):
                meta["resourceVersion"] = victim["metadata"]["resourceVersion"]
            out.update.append(slc)
        out.create += creates
        out.delete += deletes
    if (svc.get("metadata") or {}).get("deletionTimestamp"):
        out.create = []  # finalize: no new slices for a Service being deleted
    for s in out.create + out.update:
        # stored through protobuf upstream: empty lists read back as null
        s["endpoints"] = s.get("endpoints") or None
        s["ports"] = s.get("ports") or None
        ann = s["metadata"].setdefault("annotations", {})
        if trigger_time:
            ann[TRIGGER_TIME] = trigger_time
        else:
            ann.pop(TRIGGER_TIME, None)
        if not ann:
            del s["metadata"]["annotations"]
    return out
