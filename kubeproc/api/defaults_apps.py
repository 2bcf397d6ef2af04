"""Defaulting of the non-core kinds kubeproc serves: apps/v1, discovery.k8s.io/v1,
storage.k8s.io/v1, policy/v1 and coordination.k8s.io/v1.

Ports pkg/apis/{apps,discovery,storage}/v1/defaults.go of Kubernetes 1.33 (policy/v1 and
coordination.k8s.io/v1 have no defaulters) plus the pod-template defaults the generated
SetObjectDefaults_* apply inside workload templates. Each function mutates its argument.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api.defaults_pod import default_pod_template, default_pvc_spec, set_if_empty, set_if_nil


def _spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def default_deployment(obj: dict[str, Any]) -> None:
    # apps/v1 SetDefaults_Deployment
    spec = _spec(obj)
    set_if_nil(spec, "replicas", 1)
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    set_if_empty(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        set_if_nil(rolling, "maxUnavailable", "25%")
        set_if_nil(rolling, "maxSurge", "25%")
    set_if_nil(spec, "revisionHistoryLimit", 10)
    set_if_nil(spec, "progressDeadlineSeconds", 600)
    default_pod_template(spec.get("template"))


def default_replica_set(obj: dict[str, Any]) -> None:
    # apps/v1 SetDefaults_ReplicaSet
    spec = _spec(obj)
    set_if_nil(spec, "replicas", 1)
    default_pod_template(spec.get("template"))


def default_volume_claim_template(claim: dict[str, Any]) -> None:
    """A StatefulSet volumeClaimTemplates entry."""
    # apps/v1 conversion of StatefulSetSpec stamps the embedded claims' TypeMeta
    set_if_empty(claim, "apiVersion", "v1")
    set_if_empty(claim, "kind", "PersistentVolumeClaim")
    # core/v1 SetDefaults_PersistentVolumeClaim + SetDefaults_PersistentVolumeClaimSpec
    status = claim.get("status")
    if not isinstance(status, dict):
        status = claim["status"] = {}
    set_if_empty(status, "phase", "Pending")
    spec = claim.get("spec")
    if not isinstance(spec, dict):
        spec = claim["spec"] = {}
    default_pvc_spec(spec)


def default_stateful_set(obj: dict[str, Any]) -> None:
    # apps/v1 SetDefaults_StatefulSet
    spec = _spec(obj)
    set_if_empty(spec, "podManagementPolicy", "OrderedReady")
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        set_if_nil(strategy, "rollingUpdate", {})
    rolling = strategy.get("rollingUpdate")
    # An explicit type RollingUpdate without rollingUpdate stays without it (upstream quirk).
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        set_if_nil(rolling, "partition", 0)
        # maxUnavailable is defaulted only under MaxUnavailableStatefulSet, alpha (off) in 1.33.
    # StatefulSetAutoDeletePVC is on by default since 1.27
    policy = spec.get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(policy, dict):
        policy = spec["persistentVolumeClaimRetentionPolicy"] = {}
    set_if_empty(policy, "whenDeleted", "Retain")
    set_if_empty(policy, "whenScaled", "Retain")
    set_if_nil(spec, "replicas", 1)
    set_if_nil(spec, "revisionHistoryLimit", 10)
    default_pod_template(spec.get("template"))
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            default_volume_claim_template(claim)


def default_endpoint_slice(obj: dict[str, Any]) -> None:
    # discovery/v1 SetDefaults_EndpointPort
    for port in obj.get("ports") or []:
        if isinstance(port, dict):
            set_if_nil(port, "name", "")
            set_if_nil(port, "protocol", "TCP")


def default_storage_class(obj: dict[str, Any]) -> None:
    # storage/v1 SetDefaults_StorageClass
    set_if_nil(obj, "reclaimPolicy", "Delete")
    set_if_nil(obj, "volumeBindingMode", "Immediate")


# (apiVersion, kind) -> defaulter for the groups of this module
APPS_DEFAULTERS = {
    ("apps/v1", "Deployment"): default_deployment,
    ("apps/v1", "ReplicaSet"): default_replica_set,
    ("apps/v1", "StatefulSet"): default_stateful_set,
    ("discovery.k8s.io/v1", "EndpointSlice"): default_endpoint_slice,
    ("storage.k8s.io/v1", "StorageClass"): default_storage_class,
}
