"""Per-kind write rules: what a kind's upstream REST strategy decides.

Status subresource reset, generation tracking, create-on-update, selectable fields and graceful
deletion, each ported from the kind's `pkg/registry/<group>/<kind>/strategy.go`. Pure data
and small pure functions; the registry applies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors
from kubeproc.api.resources import Resource


@dataclass(frozen=True)
class Strategy:
    # main-resource writes keep the stored status (status has its own subresource)
    status_subresource: bool = False
    # metadata.generation starts at 1 and moves on spec changes (PrepareForUpdate)
    generation: bool = False
    allow_create_on_update: bool = False
    # extra selectable fields besides metadata.name / metadata.namespace
    fields: tuple[str, ...] = ()


_POD_FIELDS = ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
               "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
               "status.podIPs", "status.nominatedNodeName")
_EVENT_FIELDS = ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion",
                 "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                 "reportingComponent", "source", "type")

_STRATEGIES: dict[tuple[str, str], Strategy] = {
    ("", "Namespace"): Strategy(status_subresource=True, fields=("status.phase",)),
    ("", "Pod"): Strategy(status_subresource=True, fields=_POD_FIELDS),
    ("", "Service"): Strategy(status_subresource=True, allow_create_on_update=True),
    ("", "Endpoints"): Strategy(allow_create_on_update=True),
    ("", "Secret"): Strategy(fields=("type",)),
    ("", "PersistentVolumeClaim"): Strategy(status_subresource=True),
    ("", "PersistentVolume"): Strategy(status_subresource=True),
    ("", "Event"): Strategy(allow_create_on_update=True, fields=_EVENT_FIELDS),
    ("", "Node"): Strategy(status_subresource=True, fields=("spec.unschedulable",)),
    ("", "ReplicationController"): Strategy(status_subresource=True, generation=True,
                                            allow_create_on_update=True,
                                            fields=("status.replicas",)),
    ("apps", "Deployment"): Strategy(status_subresource=True, generation=True),
    ("apps", "ReplicaSet"): Strategy(status_subresource=True, generation=True,
                                     fields=("status.replicas",)),
    ("apps", "StatefulSet"): Strategy(status_subresource=True, generation=True),
    ("policy", "PodDisruptionBudget"): Strategy(status_subresource=True, generation=True),
    ("coordination.k8s.io", "Lease"): Strategy(allow_create_on_update=True),
}


def strategy(resource: Resource) -> Strategy:
    return _STRATEGIES.get((resource.group, resource.kind), Strategy())


def _dig(obj: dict[str, Any], path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _field_str(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # status.podIPs: the IPs, comma separated
        return ",".join(str(v.get("ip", "")) if isinstance(v, dict) else str(v) for v in value)
    if isinstance(value, dict):  # event source: component
        return str(value.get("component", ""))
    return str(value)


def index_fields(resource: Resource, obj: dict[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata") or {}
    out = {"metadata.name": meta.get("name", "") or ""}
    if resource.namespaced:
        out["metadata.namespace"] = meta.get("namespace", "") or ""
    for f in strategy(resource).fields:
        out[f] = _field_str(_dig(obj, f))
    if resource.kind == "Pod" and out.get("spec.hostNetwork") == "":
        out["spec.hostNetwork"] = "false"
    return out


def check_field_selector(resource: Resource, fields: set[str]) -> None:
    allowed = {"metadata.name", "metadata.namespace", *strategy(resource).fields}
    for f in sorted(fields):
        if f not in allowed:
            raise errors.BadRequest(f'field label not supported: {f}')


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but metadata and status: what a generation change is measured on."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def reset_status_on_create(resource: Resource, obj: dict[str, Any]) -> None:
    """PrepareForCreate: status sent by a client on create is dropped; defaulting and admission
    (kubeproc/api/admission.py) then set the initial status a kind starts with. A Node keeps
    the status it registers with (pkg/registry/core/node/strategy.go PrepareForCreate)."""
    if strategy(resource).status_subresource and resource.kind != "Node":
        obj.pop("status", None)
