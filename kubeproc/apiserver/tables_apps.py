"""Tables for apps/v1, discovery.k8s.io/v1, policy/v1, storage.k8s.io/v1, coordination.k8s.io/v1.

Columns and cells port kubernetes pkg/printers/internalversion/printers.go. A few upstream
column descriptions come from legacy API versions (extensions/v1beta1, apps/v1beta1,
discovery/v1beta1) whose text differs from the served schema; those are kept verbatim here.
"""

from __future__ import annotations

from datetime import datetime

from kubeproc.apiserver.tables import (
    CONTAINERS_DOC, IMAGES_DOC, Printer, age, age_col, col, doc, format_label_selector,
    layout_containers, meta, name_col, selector_string, template_spec,
)

_APPS = "io.k8s.api.apps.v1."
_READY_DOC = "Number of the pod with ready state"
# Texts of legacy-version SwaggerDocs that upstream's column definitions reference.
_EXT_RS_SELECTOR = (
    "Selector is a label query over pods that should match the replica count. If the selector "
    "is empty, it is defaulted to the labels present on the pod template. Label keys and values "
    "that must match in order to be controlled by this replica set. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors")
_EXT_DEPLOY_SELECTOR = ("Label selector for pods. Existing ReplicaSets whose pods are selected "
                        "by this will be the ones affected by this deployment.")
_BETA_REVISION = "revision indicates the revision of the state represented by Data."
_BETA_ADDRESS_TYPE = (
    "addressType specifies the type of address carried by this EndpointSlice. All addresses in "
    "this slice must be the same type. This field is immutable after creation. The following "
    "address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: "
    "Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.")
_BETA_PORTS = (
    "ports specifies the list of network ports exposed by each endpoint in this slice. Each port "
    "must have a unique name. When ports is empty, it indicates that there are no defined ports. "
    "When a port is defined with a nil port value, it indicates \"all ports\". Each slice may "
    "include a maximum of 100 ports.")


def _name(obj: dict) -> str:
    return meta(obj).get("name", "")


def _replicas(spec: dict) -> int:
    value = spec.get("replicas")
    return int(1 if value is None else value)  # v1 defaulting: replicas=1


def _status_int(obj: dict, key: str) -> int:
    return int((obj.get("status") or {}).get(key) or 0)


# --- Deployment, ReplicaSet, StatefulSet, ControllerRevision --------------------------------

def _deployment_cols() -> list[dict]:
    st = _APPS + "DeploymentStatus"
    return [name_col(), col("Ready", "string", _READY_DOC),
            col("Up-to-date", "string", doc(st, "updatedReplicas")),
            col("Available", "string", doc(st, "availableReplicas")), age_col(),
            col("Containers", "string", CONTAINERS_DOC, 1),
            col("Images", "string", IMAGES_DOC, 1),
            col("Selector", "string", _EXT_DEPLOY_SELECTOR, 1)]


def _deployment_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    names, images = layout_containers(template_spec(obj))
    selector = selector_string(spec.get("selector"))
    return {"cells": [
        _name(obj), f"{_status_int(obj, 'readyReplicas')}/{_replicas(spec)}",
        _status_int(obj, "updatedReplicas"), _status_int(obj, "availableReplicas"),
        age(obj, now), names, images, "<invalid>" if selector is None else selector]}


def _replicaset_cols() -> list[dict]:
    spec, st = _APPS + "ReplicaSetSpec", _APPS + "ReplicaSetStatus"
    return [name_col(), col("Desired", "integer", doc(spec, "replicas")),
            col("Current", "integer", doc(st, "replicas")),
            col("Ready", "integer", doc(st, "readyReplicas")), age_col(),
            col("Containers", "string", CONTAINERS_DOC, 1),
            col("Images", "string", IMAGES_DOC, 1),
            col("Selector", "string", _EXT_RS_SELECTOR, 1)]


def _replicaset_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    names, images = layout_containers(template_spec(obj))
    return {"cells": [
        _name(obj), _replicas(spec), _status_int(obj, "replicas"),
        _status_int(obj, "readyReplicas"), age(obj, now), names, images,
        format_label_selector(spec.get("selector"))]}


def _statefulset_cols() -> list[dict]:
    return [name_col(), col("Ready", "string", _READY_DOC), age_col(),
            col("Containers", "string", CONTAINERS_DOC, 1),
            col("Images", "string", IMAGES_DOC, 1)]


def _statefulset_row(obj: dict, now: datetime) -> dict:
    names, images = layout_containers(template_spec(obj))
    ready = f"{_status_int(obj, 'readyReplicas')}/{_replicas(obj.get('spec') or {})}"
    return {"cells": [_name(obj), ready, age(obj, now), names, images]}


def _revision_cols() -> list[dict]:
    return [name_col(), col("Controller", "string", "Controller of the object"),
            col("Revision", "string", _BETA_REVISION), age_col()]


def _controller_name(obj: dict) -> str:
    """metav1.GetControllerOf + printers.go formatResourceName: "kind.group/name"."""
    for ref in meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            api_version = ref.get("apiVersion") or ""
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            kind = ref.get("kind") or ""
            if not kind and not group:
                return ref.get("name", "")
            group_kind = f"{kind}.{group}" if group else kind
            return f"{group_kind.lower()}/{ref.get('name', '')}"
    return "<none>"


def _revision_row(obj: dict, now: datetime) -> dict:
    return {"cells": [_name(obj), _controller_name(obj), int(obj.get("revision") or 0),
                      age(obj, now)]}


# --- EndpointSlice -------------------------------------------------------------------------

def _with_more(shown: list[str], count: int, limit: int = 3) -> str:
    # printers.go listWithMoreString
    text = ",".join(shown[:limit])
    if count > limit:
        return f"{text} + {count - limit} more..."
    return text or "<unset>"


def _slice_cols() -> list[dict]:
    return [name_col(), col("AddressType", "string", _BETA_ADDRESS_TYPE),
            col("Ports", "string", _BETA_PORTS),
            col("Endpoints", "string", doc("io.k8s.api.discovery.v1.EndpointSlice", "endpoints")),
            age_col()]


def _slice_row(obj: dict, now: datetime) -> dict:
    ports = []
    for p in obj.get("ports") or []:
        if p.get("port") is not None:
            ports.append(str(p["port"]))
        elif p.get("name") is not None:
            ports.append(p["name"])
        else:
            ports.append("*")
    addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    return {"cells": [_name(obj), obj.get("addressType") or "", _with_more(ports, len(ports)),
                      _with_more(addresses, len(addresses)), age(obj, now)]}


# --- PodDisruptionBudget, StorageClass, Lease ----------------------------------------------

def _pdb_cols() -> list[dict]:
    return [name_col(),
            col("Min Available", "string", "The minimum number of pods that must be available."),
            col("Max Unavailable", "string",
                "The maximum number of pods that may be unavailable."),
            col("Allowed Disruptions", "integer",
                "Calculated number of pods that may be disrupted at this time."),
            age_col()]


def _int_or_string(value: object) -> str:
    return "N/A" if value is None else str(value)  # intstr.IntOrString.String()


def _pdb_row(obj: dict, now: datetime) -> dict:
    spec = obj.get("spec") or {}
    return {"cells": [_name(obj), _int_or_string(spec.get("minAvailable")),
                      _int_or_string(spec.get("maxUnavailable")),
                      _status_int(obj, "disruptionsAllowed"), age(obj, now)]}


def _sc_cols() -> list[dict]:
    sc = "io.k8s.api.storage.v1.StorageClass"
    return [name_col(), col("Provisioner", "string", doc(sc, "provisioner")),
            col("ReclaimPolicy", "string", doc(sc, "reclaimPolicy")),
            col("VolumeBindingMode", "string", doc(sc, "volumeBindingMode")),
            col("AllowVolumeExpansion", "string", doc(sc, "allowVolumeExpansion")), age_col()]


def _sc_row(obj: dict, now: datetime) -> dict:
    annotations = meta(obj).get("annotations") or {}
    name = _name(obj)
    # storage/util IsDefaultAnnotation: GA or beta is-default-class annotation == "true"
    if annotations.get("storageclass.kubernetes.io/is-default-class") == "true" or \
            annotations.get("storageclass.beta.kubernetes.io/is-default-class") == "true":
        name += " (default)"
    return {"cells": [name, obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
                      obj.get("volumeBindingMode") or "Immediate",
                      bool(obj.get("allowVolumeExpansion")), age(obj, now)]}


def _lease_cols() -> list[dict]:
    return [name_col(),
            col("Holder", "string", doc("io.k8s.api.coordination.v1.LeaseSpec", "holderIdentity")),
            age_col()]


def _lease_row(obj: dict, now: datetime) -> dict:
    holder = (obj.get("spec") or {}).get("holderIdentity") or ""
    return {"cells": [_name(obj), holder, age(obj, now)]}


PRINTERS: dict[tuple[str, str], Printer] = {
    ("apps", "Deployment"): (_deployment_cols, _deployment_row),
    ("apps", "ReplicaSet"): (_replicaset_cols, _replicaset_row),
    ("apps", "StatefulSet"): (_statefulset_cols, _statefulset_row),
    ("apps", "ControllerRevision"): (_revision_cols, _revision_row),
    ("discovery.k8s.io", "EndpointSlice"): (_slice_cols, _slice_row),
    ("policy", "PodDisruptionBudget"): (_pdb_cols, _pdb_row),
    ("storage.k8s.io", "StorageClass"): (_sc_cols, _sc_row),
    ("coordination.k8s.io", "Lease"): (_lease_cols, _lease_row),
}
