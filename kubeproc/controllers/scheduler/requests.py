"""Resource arithmetic of the scheduler: a pod's effective requests and a node's allocatable.

Ports component-helpers/resource PodRequests (sum of containers, sidecar-aware max over init
containers, pod overhead) and the scheduler's units (framework.Resource: milli-CPU, bytes, and
integer scalar resources such as hugepages-* and extended resources), all rounded up like
Quantity.MilliValue()/Value().
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from kubeproc.api.quantity import QuantityError, parse_quantity

Resources = dict[str, int]  # resource name -> milli-CPU for "cpu", integer units otherwise

_IGNORED = {"pods"}  # counted separately (AllowedPodNumber), never requested


def _is_scalar(name: str) -> bool:
    # schedutil.IsScalarResourceName: extended (domain/name outside kubernetes.io), hugepages-*,
    # native kubernetes.io/ names and attachable-volumes-*.
    return ("/" in name or name.startswith("hugepages-")
            or name.startswith("attachable-volumes-"))


def _units(name: str, value: Any) -> int | None:
    try:
        q = parse_quantity(value)
    except (QuantityError, TypeError):
        return None
    if name == "cpu":
        return math.ceil(q * 1000)
    return math.ceil(q) if q >= 0 else math.floor(q)


def to_resources(rl: Mapping[str, Any] | None) -> Resources:
    """A ResourceList in scheduler units; unknown/unparsable names dropped (Resource.Add)."""
    out: Resources = {}
    for name, value in (rl or {}).items():
        if name in _IGNORED:
            continue
        if name in ("cpu", "memory", "ephemeral-storage") or _is_scalar(name):
            units = _units(name, value)
            if units is not None:
                out[name] = out.get(name, 0) + units
    return out


def _add(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _max(a: Resources, b: Resources) -> Resources:
    out = dict(a)
    for k, v in b.items():
        out[k] = max(out.get(k, 0), v)
    return out


def _container_requests(c: Mapping[str, Any]) -> Resources:
    res = c.get("resources") or {}
    requests = dict(res.get("limits") or {})
    # Defaulting copies a limit into a missing request (SetDefaults_ResourceList); apply it
    # here too so an undefaulted object is read the same way.
    requests.update(res.get("requests") or {})
    return to_resources(requests)


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """Effective requests of a pod (resourcehelper.PodRequests without pod-level resources)."""
    spec = pod.get("spec") or {}
    reqs: Resources = {}
    for c in spec.get("containers") or ():
        reqs = _add(reqs, _container_requests(c))
    sidecars: Resources = {}
    init_max: Resources = {}
    for c in spec.get("initContainers") or ():
        creqs = _container_requests(c)
        if c.get("restartPolicy") == "Always":
            # A sidecar keeps running next to the app containers and the later init containers.
            reqs = _add(reqs, creqs)
            sidecars = _add(sidecars, creqs)
            creqs = sidecars
        else:
            creqs = _add(creqs, sidecars)
        init_max = _max(init_max, creqs)
    reqs = _max(reqs, init_max)
    return _add(reqs, to_resources(spec.get("overhead")))


def node_allocatable(node: Mapping[str, Any]) -> tuple[Resources, int]:
    """(allocatable resources, allowed pod count) of a Node (NodeInfo.SetNode)."""
    status = node.get("status") or {}
    alloc = status.get("allocatable") or status.get("capacity") or {}
    pods = alloc.get("pods")
    try:
        allowed = math.floor(parse_quantity(pods)) if pods is not None else 0
    except QuantityError:
        allowed = 0
    return to_resources(alloc), allowed


def sum_requests(pods: Iterable[Mapping[str, Any]]) -> Resources:
    total: Resources = {}
    for p in pods:
        total = _add(total, pod_requests(p))
    return total

