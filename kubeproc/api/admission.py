"""Create-only mutations: default admission plugins and registry PrepareForCreate strategies.

Upstream applies these once, when an object is created (never on update): ServiceAccount,
DefaultTolerationSeconds, Priority, StorageObjectInUseProtection, DefaultStorageClass (when the
caller names the default class), TaintNodesByCondition, and the registries' status resets,
namespace finalizer and Service IP-family fields. Cluster IP / node port allocation, generation
and metadata stamping belong to the registry, not here.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from kubeproc.api.admission_pod import admit_pod
from kubeproc.api.defaults import apply_defaults, default_in_place


def _section(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def _add_finalizer(obj: dict[str, Any], finalizer: str) -> None:
    meta = _section(obj, "metadata")
    finalizers = meta.get("finalizers")
    if not isinstance(finalizers, list):
        finalizers = meta["finalizers"] = []
    if finalizer not in finalizers:
        finalizers.append(finalizer)


def admit_service(obj: dict[str, Any]) -> None:
    """pkg/registry/core/service strategy PrepareForCreate + storage alloc initIPFamilyFields.

    Models a single-stack IPv4 cluster (--service-cluster-ip-range with one IPv4 CIDR).
    """
    obj["status"] = {"loadBalancer": {}}
    spec = _section(obj, "spec")
    # normalizeClusterIPs (create): clusterIP and clusterIPs[0] mirror each other
    cluster_ip = spec.get("clusterIP") or ""
    cluster_ips = spec.get("clusterIPs") or []
    if cluster_ip and not cluster_ips:
        spec["clusterIPs"] = [cluster_ip]
    elif cluster_ips and not cluster_ip and isinstance(cluster_ips, list):
        spec["clusterIP"] = cluster_ips[0]
    if spec.get("type") == "ExternalName":
        return
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        # headless + selectorless defaults to RequireDualStack; everything else SingleStack
        spec["ipFamilyPolicy"] = "RequireDualStack" if headless_selectorless else "SingleStack"
    families = spec.get("ipFamilies")
    if not isinstance(families, list) or not families:
        # infer from given cluster IPs, else the cluster default family
        families = ["IPv6" if ":" in ip else "IPv4"
                    for ip in spec.get("clusterIPs") or [] if ip and ip != "None"] or ["IPv4"]
    if headless_selectorless and len(families) < 2 and spec["ipFamilyPolicy"] != "SingleStack":
        families = families + ["IPv6" if families[0] == "IPv4" else "IPv4"]
    spec["ipFamilies"] = families


def admit_namespace(obj: dict[str, Any]) -> None:
    # pkg/registry/core/namespace strategy PrepareForCreate
    obj["status"] = {"phase": "Active"}
    spec = _section(obj, "spec")
    finalizers = spec.get("finalizers")
    if not isinstance(finalizers, list):
        finalizers = spec["finalizers"] = []
    if "kubernetes" not in finalizers:
        finalizers.append("kubernetes")


def admit_pvc(obj: dict[str, Any], default_storage_class: str | None) -> None:
    # pkg/registry/core/persistentvolumeclaim strategy PrepareForCreate (status reset)
    obj["status"] = {}
    # plugin/pkg/admission/storage/persistentvolume/protection (StorageObjectInUseProtection)
    _add_finalizer(obj, "kubernetes.io/pvc-protection")
    # plugin/pkg/admission/storage/storageclass/setdefault: only when the field is unset (nil)
    spec = _section(obj, "spec")
    if default_storage_class and spec.get("storageClassName") is None:
        spec["storageClassName"] = default_storage_class


def admit_pv(obj: dict[str, Any], now: str) -> None:
    # pkg/registry/core/persistentvolume strategy PrepareForCreate (LastPhaseTransitionTime GA)
    obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": now}
    _add_finalizer(obj, "kubernetes.io/pv-protection")


def admit_node(obj: dict[str, Any]) -> None:
    # plugin/pkg/admission/nodetaint (TaintNodesByCondition): new nodes start not-ready
    spec = _section(obj, "spec")
    taints = spec.get("taints")
    if not isinstance(taints, list):
        taints = spec["taints"] = []
    if not any(isinstance(t, dict) and t.get("key") == "node.kubernetes.io/not-ready"
               and t.get("effect") == "NoSchedule" for t in taints):
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})


def _reset_status(obj: dict[str, Any]) -> None:
    # apps/policy/core registries' PrepareForCreate: a client cannot create with a status
    obj["status"] = {}


_STATUS_RESET_KINDS = {
    ("v1", "ReplicationController"), ("apps/v1", "Deployment"), ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"), ("policy/v1", "PodDisruptionBudget"),
}


def rfc3339_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def admit_defaults(
    obj: dict[str, Any],
    *,
    now: str | None = None,
    default_storage_class: str | None = None,
    priority_classes: Mapping[str, tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """A copy of `obj` as the apiserver would store it on create, fully defaulted.

    Runs apply_defaults, the create-only mutations for obj's kind, then apply_defaults again
    (upstream re-defaults when decoding from storage). Never mutates `obj`. May raise
    errors.Forbidden (Priority admission). `now` (RFC 3339) stamps PV phase transitions.
    """
    result = apply_defaults(obj)
    key = (result.get("apiVersion", ""), result.get("kind", ""))
    mutators: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
        ("v1", "Pod"): lambda o: admit_pod(o, priority_classes),
        ("v1", "Service"): admit_service,
        ("v1", "Namespace"): admit_namespace,
        ("v1", "PersistentVolumeClaim"): lambda o: admit_pvc(o, default_storage_class),
        ("v1", "PersistentVolume"): lambda o: admit_pv(o, now or rfc3339_now()),
        ("v1", "Node"): admit_node,
    }
    mutate = mutators.get(key)
    if mutate is None and key in _STATUS_RESET_KINDS:
        mutate = _reset_status
    if mutate is None:
        return result
    mutate(result)
    default_in_place(result)
    return result


def default_class_name(classes: Iterable[Mapping[str, Any]]) -> str | None:
    """storage/util GetDefaultClass (the DefaultStorageClass admission plugin's choice): of the
    classes annotated default, the newest, then the first by name."""
    def ann(c: Mapping[str, Any]) -> Mapping[str, Any]:
        return (c.get("metadata") or {}).get("annotations") or {}
    defaults = [c for c in classes if "true" in (
        ann(c).get("storageclass.kubernetes.io/is-default-class"),
        ann(c).get("storageclass.beta.kubernetes.io/is-default-class"))]
    if not defaults:
        return None
    defaults.sort(key=lambda c: (c.get("metadata") or {}).get("name", ""))
    defaults.sort(key=lambda c: (c.get("metadata") or {}).get("creationTimestamp") or "", reverse=True)
    return (defaults[0].get("metadata") or {}).get("name")
