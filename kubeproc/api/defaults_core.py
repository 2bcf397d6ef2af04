"""Defaulting of the core/v1 kinds kubeproc serves (other than the PodSpec internals).

Ports the SetDefaults_* functions of k8s.io/kubernetes pkg/apis/core/v1/defaults.go (1.33, with
default-on feature gates), the `+default` markers of k8s.io/api/core/v1, and the few v1 conversion
rules whose effect is visible on every write (Secret stringData). Each function mutates its
argument; the entry point is kubeproc.api.defaults.apply_defaults.
"""

from __future__ import annotations

import base64
from typing import Any

from kubeproc.api.defaults_pod import (
    default_azure_disk,
    default_iscsi,
    default_pod_only,
    default_pod_spec,
    default_pod_template,
    default_pvc_spec,
    default_rbd,
    default_scaleio,
    set_if_empty,
    set_if_nil,
)

_CLIENT_IP_TIMEOUT = 10800  # v1.DefaultClientIPServiceAffinitySeconds (3 hours)


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """obj[key] as a dict, created when absent/null (Go value-typed struct fields always exist)."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def default_pod(obj: dict[str, Any]) -> None:
    # core/v1 SetObjectDefaults_Pod: SetDefaults_Pod then SetDefaults_PodSpec and nested
    spec = _section(obj, "spec")
    default_pod_only(spec)
    default_pod_spec(spec)


def _externally_accessible(spec: dict[str, Any]) -> bool:
    # pkg/api/v1/service ExternallyAccessible
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs")))


def default_service(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_Service
    spec = _section(obj, "spec")
    set_if_empty(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": _CLIENT_IP_TIMEOUT}}
    set_if_empty(spec, "type", "ClusterIP")
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        set_if_empty(port, "protocol", "TCP")
        # targetPort is an IntOrString: int 0 and string "" both count as unset
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port", 0)
    if _externally_accessible(spec):
        set_if_empty(spec, "externalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer", "ClusterIP"):
        set_if_nil(spec, "internalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        set_if_nil(spec, "allocateLoadBalancerNodePorts", True)
        # LoadBalancerIPMode (GA): an ingress IP without ipMode is a VIP
        status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
        balancer = status.get("loadBalancer") if isinstance(status, dict) else None
        for ingress in (balancer or {}).get("ingress") or []:
            if isinstance(ingress, dict) and ingress.get("ip") and ingress.get("ipMode") is None:
                ingress["ipMode"] = "VIP"


def default_replication_controller(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_ReplicationController (+ replicas `+default=1`)
    spec = _section(obj, "spec")
    template = spec.get("template")
    labels = None
    if isinstance(template, dict):
        meta = template.get("metadata")
        labels = meta.get("labels") if isinstance(meta, dict) else None
    # Go copies even an empty map, but an empty map is omitted on the wire: same as skipping
    if isinstance(labels, dict) and labels:
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = _section(obj, "metadata")
        if not meta.get("labels"):
            meta["labels"] = dict(labels)
    set_if_nil(spec, "replicas", 1)
    default_pod_template(template)


def default_persistent_volume(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_PersistentVolume and the PV source defaulters
    status = _section(obj, "status")
    set_if_empty(status, "phase", "Pending")
    spec = _section(obj, "spec")
    set_if_empty(spec, "persistentVolumeReclaimPolicy", "Retain")
    set_if_nil(spec, "volumeMode", "Filesystem")
    host_path = spec.get("hostPath")
    if isinstance(host_path, dict):
        set_if_nil(host_path, "type", "")  # SetDefaults_HostPathVolumeSource
    for key, fn in (("iscsi", default_iscsi), ("rbd", default_rbd),
                    ("azureDisk", default_azure_disk), ("scaleIO", default_scaleio)):
        src = spec.get(key)
        if isinstance(src, dict):
            fn(src)


def default_persistent_volume_claim(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_PersistentVolumeClaim + SetDefaults_PersistentVolumeClaimSpec
    set_if_empty(_section(obj, "status"), "phase", "Pending")
    default_pvc_spec(_section(obj, "spec"))


def default_namespace(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_Namespace: the immutable kubernetes.io/metadata.name label
    meta = _section(obj, "metadata")
    name = meta.get("name")
    if name:
        labels = meta.get("labels")
        if not isinstance(labels, dict):
            labels = meta["labels"] = {}
        labels["kubernetes.io/metadata.name"] = name
    # core/v1 SetDefaults_NamespaceStatus
    set_if_empty(_section(obj, "status"), "phase", "Active")


def default_node(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_NodeStatus: allocatable defaults to capacity
    status = obj.get("status")
    if isinstance(status, dict) and status.get("allocatable") is None \
            and isinstance(status.get("capacity"), dict):
        status["allocatable"] = dict(status["capacity"])


def default_endpoints(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_Endpoints
    for subset in obj.get("subsets") or []:
        if isinstance(subset, dict):
            for port in subset.get("ports") or []:
                if isinstance(port, dict):
                    set_if_empty(port, "protocol", "TCP")


def default_secret(obj: dict[str, Any]) -> None:
    # core/v1 SetDefaults_Secret
    set_if_empty(obj, "type", "Opaque")
    # core/v1 conversion.go Convert_v1_Secret_To_core_Secret: stringData overwrites data and,
    # having no internal field, is never returned.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            text = value if isinstance(value, str) else ""
            data[key] = base64.b64encode(text.encode()).decode()


def default_config_map(obj: dict[str, Any]) -> None:
    """No visible effect: core/v1 SetDefaults_ConfigMap makes data an empty map, which the
    JSON encoding omits (omitempty). Registered so ConfigMap counts as a known kind."""


def default_pod_template_kind(obj: dict[str, Any]) -> None:
    # core/v1 SetObjectDefaults_PodTemplate (kind not served, kept for completeness)
    default_pod_template(obj.get("template"))


CORE_DEFAULTERS = {
    "Pod": default_pod,
    "Service": default_service,
    "ReplicationController": default_replication_controller,
    "PersistentVolume": default_persistent_volume,
    "PersistentVolumeClaim": default_persistent_volume_claim,
    "Namespace": default_namespace,
    "Node": default_node,
    "Endpoints": default_endpoints,
    "Secret": default_secret,
    "ConfigMap": default_config_map,
    "PodTemplate": default_pod_template_kind,
}
