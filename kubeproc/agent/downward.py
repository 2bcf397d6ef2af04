"""Downward API values: a pod field (fieldRef) or a container resource (resourceFieldRef) as text.

Shared by container env (envvars.py) and, later, downwardAPI volumes. Ports
pkg/apis/core/pods ConvertDownwardAPIFieldLabel, pkg/fieldpath ExtractFieldPathAsString, the
kubelet's podFieldSelectorRuntimeValue, and pkg/api/v1/resource helpers
(ExtractContainerResourceValue, MergeContainerResourceLimits) over pod dicts.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from kubeproc.api.quantity import QuantityError, parse_quantity


class DownwardError(ValueError):
    """A field or resource reference the kubelet cannot resolve (message as upstream's)."""


# pods.ConvertDownwardAPIFieldLabel: the field paths a v1 pod accepts.
_POD_FIELDS = frozenset(
    {
        "metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
        "metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName",
        "spec.schedulerName", "status.phase", "status.hostIP", "status.hostIPs",
        "status.podIP", "status.podIPs",
    }
)


def split_subscript(path: str) -> tuple[str, str] | None:
    """fieldpath.SplitMaybeSubscriptedPath: "metadata.labels['k']" → ("metadata.labels", "k")."""
    if not path.endswith("']"):
        return None
    head, sep, key = path[:-2].partition("['")
    if not sep or not head:
        return None
    return head, key


def _format_map(m: Mapping[str, str]) -> str:
    # fieldpath.FormatMap: sorted `key="value"` lines; Go's %q approximated by JSON quoting.
    return "\n".join(f"{k}={json.dumps(m[k], ensure_ascii=False)}" for k in sorted(m))


def _check_field_label(api_version: str, path: str) -> None:
    # pods.ConvertDownwardAPIFieldLabel
    if api_version != "v1":
        raise DownwardError(f"unsupported pod version: {api_version}")
    sub = split_subscript(path)
    if sub:
        if sub[0] in ("metadata.annotations", "metadata.labels"):
            return
        raise DownwardError(f"field label does not support subscript: {path}")
    if path not in _POD_FIELDS:
        raise DownwardError(f"field label not supported: {path}")


def extract_field_path(pod: Mapping[str, Any], path: str) -> str:
    """fieldpath.ExtractFieldPathAsString over the pod's metadata."""
    meta = pod.get("metadata") or {}
    sub = split_subscript(path)
    if sub:
        head, key = sub
        if head == "metadata.annotations":
            return (meta.get("annotations") or {}).get(key, "")
        if head == "metadata.labels":
            return (meta.get("labels") or {}).get(key, "")
        raise DownwardError(f"fieldPath {path!r} does not support subscript")
    if path == "metadata.annotations":
        return _format_map(meta.get("annotations") or {})
    if path == "metadata.labels":
        return _format_map(meta.get("labels") or {})
    if path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return meta.get(path.split(".", 1)[1]) or ""
    raise DownwardError(f"unsupported fieldPath: {path}")


def pod_field_value(
    field_ref: Mapping[str, Any],
    pod: Mapping[str, Any],
    *,
    pod_ips: Sequence[str],
    host_ips: Sequence[str],
) -> str:
    """kubelet_pods.go podFieldSelectorRuntimeValue: the text of one fieldRef for env."""
    path = field_ref.get("fieldPath") or ""
    _check_field_label(field_ref.get("apiVersion") or "v1", path)
    spec = pod.get("spec") or {}
    if path == "spec.nodeName":
        return spec.get("nodeName") or ""
    if path == "spec.serviceAccountName":
        return spec.get("serviceAccountName") or ""
    if path in ("status.hostIP", "status.hostIPs"):
        if not host_ips:  # getHostIPsAnyWay fails when the node has no address
            raise DownwardError("host IP unknown; known addresses: []")
        return host_ips[0] if path == "status.hostIP" else ",".join(host_ips)
    if path == "status.podIP":
        return pod_ips[0] if pod_ips else ""
    if path == "status.podIPs":
        return ",".join(pod_ips)
    return extract_field_path(pod, path)


# ---- resources ------------------------------------------------------------------------------

_MERGED_LIMITS = ("cpu", "memory", "ephemeral-storage")  # MergeContainerResourceLimits


def merge_limits(container: Mapping[str, Any], allocatable: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of container whose missing or zero cpu/memory/ephemeral-storage limits are the
    node's allocatable (resource helpers MergeContainerResourceLimits)."""
    out = copy.deepcopy(dict(container))
    resources = out.setdefault("resources", {}) or {}
    out["resources"] = resources
    limits = dict(resources.get("limits") or {})
    for name in _MERGED_LIMITS:
        current = limits.get(name)
        if (current is None or _q(current) == 0) and name in allocatable:
            limits[name] = allocatable[name]
    resources["limits"] = limits
    return out


def _q(value: Any) -> Fraction:
    try:
        return parse_quantity(value)
    except QuantityError as exc:
        raise DownwardError(str(exc)) from exc


def _ceil_int(v: Fraction) -> int:
    # Quantity.Value()/MilliValue() round up (away from zero).
    return math.ceil(v) if v >= 0 else math.floor(v)


def _find_container(pod: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    # resource helpers findContainerInPod: app containers, then init containers.
    spec = pod.get("spec") or {}
    for c in list(spec.get("containers") or []) + list(spec.get("initContainers") or []):
        if c.get("name") == name:
            return c
    raise DownwardError(f"container {name} not found")


def container_resource_value(ref: Mapping[str, Any], container: Mapping[str, Any]) -> str:
    """resource helpers ExtractContainerResourceValue: ceil(value / divisor) as an integer."""
    divisor = _q(ref["divisor"]) if ref.get("divisor") not in (None, "") else Fraction(0)
    if divisor == 0:
        divisor = Fraction(1)
    resource = ref.get("resource") or ""
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    if kind not in ("limits", "requests") or not (
        name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")
    ):
        raise DownwardError(f"unsupported container resource : {resource}")
    raw = (resources.get(kind) or {}).get(name)
    value = _q(raw) if raw is not None else Fraction(0)
    if name == "cpu":  # convertResourceCPUToString works in millicores
        num, den = _ceil_int(value * 1000), _ceil_int(divisor * 1000)
    else:  # memory, ephemeral storage, hugepages: whole units
        num, den = _ceil_int(value), _ceil_int(divisor)
    if den == 0:
        raise DownwardError(f"invalid divisor for {resource}")
    # upstream divides as float64 before math.Ceil; the same here keeps identical rounding.
    return str(int(math.ceil(num / den)))


def resource_field_value(
    ref: Mapping[str, Any],
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    node_allocatable: Mapping[str, Any],
) -> str:
    """kubelet_pods.go containerResourceRuntimeValue after defaultPodLimitsForDownwardAPI:
    unset limits read as the node's allocatable; `containerName` selects another container."""
    name = ref.get("containerName")
    if name:
        spec = pod.get("spec") or {}
        # defaultPodLimitsForDownwardAPI defaults the app containers only.
        if any(c.get("name") == name for c in spec.get("containers") or []):
            target = merge_limits(_find_container(pod, name), node_allocatable)
        else:
            target = dict(_find_container(pod, name))
        return container_resource_value(ref, target)
    return container_resource_value(ref, merge_limits(container, node_allocatable))
