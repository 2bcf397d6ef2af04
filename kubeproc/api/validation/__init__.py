"""Server-side validation of API objects, with upstream's field paths and messages.

`validate(resource, obj, old)` runs after defaulting, like the apiserver's strategy
Validate/ValidateUpdate, and returns metav1.StatusCause-style causes; the caller wraps them
with `errors.Invalid.of(kind, group, name, causes)`. Each kind's rules live in a module per
API group (core, pods/containers, storage, apps, misc); ObjectMeta rules in meta.py.
"""

from __future__ import annotations

from typing import Any, Callable

from kubeproc.api.errors import Cause
from kubeproc.api.resources import Resource
from kubeproc.api.validation import apps, core, misc, names, pods, storage
from kubeproc.api.validation.meta import validate_object_meta, validate_object_meta_update

KindValidator = Callable[[dict[str, Any], "dict[str, Any] | None"], list[Cause]]

# (group, kind) -> (object-name rule, kind validator); name rules per upstream Validate*Name.
_RULES: dict[tuple[str, str], tuple[names.NameFn, KindValidator | None]] = {
    ("", "Namespace"): (names.name_is_dns_label, core.validate_namespace),
    ("", "Pod"): (names.name_is_dns_subdomain, pods.validate_pod),
    ("", "Service"): (names.name_is_dns1035_label, core.validate_service),
    ("", "Endpoints"): (names.name_is_dns_subdomain, core.validate_endpoints),
    ("", "ConfigMap"): (names.name_is_dns_subdomain, core.validate_config_map),
    ("", "Secret"): (names.name_is_dns_subdomain, core.validate_secret),
    ("", "ServiceAccount"): (names.name_is_dns_subdomain, None),
    ("", "PersistentVolumeClaim"): (names.name_is_dns_subdomain, storage.validate_pvc),
    ("", "PersistentVolume"): (names.name_is_dns_subdomain, storage.validate_pv),
    ("", "Event"): (names.name_is_dns_subdomain, core.validate_event),
    ("", "Node"): (names.name_is_dns_subdomain, core.validate_node),
    ("", "ReplicationController"): (names.name_is_dns_subdomain, core.validate_replication_controller),
    ("apps", "Deployment"): (names.name_is_dns_subdomain, apps.validate_deployment),
    ("apps", "ReplicaSet"): (names.name_is_dns_subdomain, apps.validate_replica_set),
    # apps validation ValidateStatefulSetName: a DNS label (pod hostnames derive from it)
    ("apps", "StatefulSet"): (names.name_is_dns_label, apps.validate_stateful_set),
    ("apps", "ControllerRevision"): (names.name_is_dns_subdomain, apps.validate_controller_revision),
    ("discovery.k8s.io", "EndpointSlice"): (names.name_is_dns_subdomain, misc.validate_endpoint_slice),
    ("policy", "PodDisruptionBudget"): (names.name_is_dns_subdomain, misc.validate_pdb),
    ("storage.k8s.io", "StorageClass"): (names.name_is_dns_subdomain, misc.validate_storage_class),
    ("coordination.k8s.io", "Lease"): (names.name_is_dns_subdomain, misc.validate_lease),
}
# Kinds whose ObjectMeta is not validated (review objects carry no metadata).
_NO_META = {("authorization.k8s.io", "SelfSubjectAccessReview")}
_KIND_ONLY: dict[tuple[str, str], KindValidator] = {
    ("authorization.k8s.io", "SelfSubjectAccessReview"): misc.validate_self_subject_access_review,
}
# legacyValidateEvent checks its own fields before ObjectMeta.
_META_LAST = {("", "Event")}


def validate(resource: Resource, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[Cause]:
    """Causes for everything wrong with `obj` (and, when `old` is given, with the update)."""
    gk = (resource.group, resource.kind)
    if gk in _NO_META:
        fn = _KIND_ONLY.get(gk)
        return fn(obj, old) if fn else []
    name_fn, kind_fn = _RULES.get(gk, (names.name_is_dns_subdomain, None))
    if old is None:
        meta = validate_object_meta(obj.get("metadata"), resource.namespaced, name_fn)
    else:
        meta = validate_object_meta_update(obj.get("metadata"), old.get("metadata"))
    body = kind_fn(obj, old) if kind_fn else []
    return body + meta if gk in _META_LAST else meta + body


__all__ = ["validate"]
