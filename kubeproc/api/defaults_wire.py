"""Fields a real API server always returns because Go's encoding/json cannot omit them.

A Go struct-typed field tagged `omitempty` still encodes as `{}`, a zero metav1.Time as `null`,
and fields without `omitempty` encode their zero value. So a real cluster answers with e.g.
`resources: {}` on every container, `creationTimestamp: null` in every embedded template and
`status: {replicas: 0}` on a new ReplicaSet. This module adds exactly those (Kubernetes 1.33
k8s.io/api types; `omitzero` for embedded ObjectMeta only arrived in 1.34). Mutates in place.
"""

from __future__ import annotations

from typing import Any, Callable

_NODE_INFO_KEYS = (
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
    "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture",
)


def _struct(d: dict[str, Any], key: str) -> dict[str, Any]:
    """d[key] as a struct: absent or null becomes {} (Go decodes null into a zero struct)."""
    value = d.get(key)
    if not isinstance(value, dict):
        value = d[key] = {}
    return value


def _each(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def embedded_meta(holder: dict[str, Any]) -> None:
    """Embedded ObjectMeta (templates, claim templates): zero creationTimestamp encodes as null."""
    _struct(holder, "metadata").setdefault("creationTimestamp", None)


def pod_spec(spec: dict[str, Any]) -> None:
    # Container.resources is a non-pointer ResourceRequirements
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _each(spec.get(key)):
            _struct(container, "resources")
    for volume in _each(spec.get("volumes")):
        ephemeral = volume.get("ephemeral")
        template = ephemeral.get("volumeClaimTemplate") if isinstance(ephemeral, dict) else None
        if isinstance(template, dict):
            embedded_meta(template)
            _struct(_struct(template, "spec"), "resources")


def pod_template(spec: dict[str, Any], pointer: bool = False) -> None:
    """spec.template of a workload; `pointer` for RC whose template may be absent."""
    template = spec.get("template")
    if template is None and pointer:
        return
    if not isinstance(template, dict):
        template = spec["template"] = {}
    embedded_meta(template)
    pod_spec(_struct(template, "spec"))


def _pod(obj: dict[str, Any]) -> None:
    pod_spec(_struct(obj, "spec"))
    _struct(obj, "status")


def _service(obj: dict[str, Any]) -> None:
    _struct(obj, "spec")
    _struct(_struct(obj, "status"), "loadBalancer")


def _replicated(obj: dict[str, Any], pointer_template: bool = False) -> None:
    pod_template(_struct(obj, "spec"), pointer=pointer_template)
    _struct(obj, "status").setdefault("replicas", 0)  # ReplicaSetStatus.replicas has no omitempty


def _deployment(obj: dict[str, Any]) -> None:
    spec = _struct(obj, "spec")
    pod_template(spec)
    _struct(spec, "strategy")
    _struct(obj, "status")


def _stateful_set(obj: dict[str, Any]) -> None:
    spec = _struct(obj, "spec")
    pod_template(spec)
    _struct(spec, "updateStrategy")
    for claim in _each(spec.get("volumeClaimTemplates")):
        embedded_meta(claim)
        _struct(_struct(claim, "spec"), "resources")
        _struct(claim, "status")
    status = _struct(obj, "status")
    status.setdefault("replicas", 0)
    status.setdefault("availableReplicas", 0)


def _pvc(obj: dict[str, Any]) -> None:
    _struct(_struct(obj, "spec"), "resources")
    _struct(obj, "status")


def _spec_status(obj: dict[str, Any]) -> None:
    _struct(obj, "spec")
    _struct(obj, "status")


def _node(obj: dict[str, Any]) -> None:
    _struct(obj, "spec")
    status = _struct(obj, "status")
    endpoint = _struct(_struct(status, "daemonEndpoints"), "kubeletEndpoint")
    endpoint.setdefault("Port", 0)  # DaemonEndpoint.Port really is capitalised on the wire
    info = _struct(status, "nodeInfo")
    for key in _NODE_INFO_KEYS:
        info.setdefault(key, "")


def _event(obj: dict[str, Any]) -> None:
    _struct(obj, "involvedObject")
    _struct(obj, "source")
    for key in ("firstTimestamp", "lastTimestamp", "eventTime"):
        obj.setdefault(key, None)
    for key in ("reportingComponent", "reportingInstance"):
        obj.setdefault(key, "")


def _endpoint_slice(obj: dict[str, Any]) -> None:
    obj.setdefault("endpoints", None)
    for endpoint in _each(obj.get("endpoints")):
        endpoint.setdefault("addresses", None)
        _struct(endpoint, "conditions")


def _pdb(obj: dict[str, Any]) -> None:
    _struct(obj, "spec")
    status = _struct(obj, "status")
    for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"):
        status.setdefault(key, 0)


def _lease(obj: dict[str, Any]) -> None:
    _struct(obj, "spec")


def _storage_class(obj: dict[str, Any]) -> None:
    obj.setdefault("provisioner", "")


def _controller_revision(obj: dict[str, Any]) -> None:
    obj.setdefault("revision", 0)


WIRE_FILLERS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("v1", "Pod"): _pod,
    ("v1", "Service"): _service,
    ("v1", "ReplicationController"): lambda o: _replicated(o, pointer_template=True),
    ("v1", "PersistentVolumeClaim"): _pvc,
    ("v1", "PersistentVolume"): _spec_status,
    ("v1", "Namespace"): _spec_status,
    ("v1", "Node"): _node,
    ("v1", "Event"): _event,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replicated,
    ("apps/v1", "StatefulSet"): _stateful_set,
    ("apps/v1", "ControllerRevision"): _controller_revision,
    ("discovery.k8s.io/v1", "EndpointSlice"): _endpoint_slice,
    ("policy/v1", "PodDisruptionBudget"): _pdb,
    ("coordination.k8s.io/v1", "Lease"): _lease,
    ("storage.k8s.io/v1", "StorageClass"): _storage_class,
}


def fill_wire_zero_values(obj: dict[str, Any]) -> None:
    """Add the always-encoded zero values for obj's kind (in place; unknown kinds untouched)."""
    filler = WIRE_FILLERS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if filler is not None:
        filler(obj)
