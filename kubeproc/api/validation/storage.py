"""PersistentVolumes and PersistentVolumeClaims, on create and on update.

Ports ValidatePersistentVolumeSpec/Update and ValidatePersistentVolumeClaimSpec/Update of
pkg/apis/core/validation/validation.go (the claim spec is immutable except
resources.requests and volumeAttributesClassName of bound claims, and volumeName once).
"""

from __future__ import annotations

import copy
from typing import Any

from kubeproc.api import quantity
from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.fielderr import (
    GoRepr, as_dict, as_list, as_str, child, forbidden, immutable, invalid, key, not_supported, required,
)
from kubeproc.api.validation.pods import spec_diff
from kubeproc.api.validation.selectors import validate_label_selector

ACCESS_MODES = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
RECLAIM_POLICIES = ["Delete", "Recycle", "Retain"]
VOLUME_MODES = ["Block", "Filesystem"]
# ValidatePersistentVolumeSpec checks sources in this order (error path name second).
PV_SOURCES = [
    ("hostPath", "hostPath"), ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"), ("glusterfs", "glusterfs"),
    ("flocker", "flocker"), ("nfs", "nfs"), ("rbd", "rbd"), ("quobyte", "quobyte"),
    ("cephfs", "cephFS"), ("iscsi", "iscsi"), ("cinder", "cinder"), ("fc", "fc"),
    ("flexVolume", "flexVolume"), ("azureFile", "azureFile"), ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"), ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"), ("scaleIO", "scaleIO"), ("local", "local"),
    ("storageos", "storageos"), ("csi", "csi"),
]


def _access_modes(modes: Any, path: str, required_detail: str) -> list[Cause]:
    out: list[Cause] = []
    items = as_list(modes)
    if not items:
        out.append(required(path, required_detail))
    rwop = other = False
    for m in items:
        if m not in ACCESS_MODES:
            out.append(not_supported(path, m, ACCESS_MODES))
        elif m == "ReadWriteOncePod":
            rwop = True
        else:
            other = True
    if rwop and other:
        out.append(forbidden(path, "may not use ReadWriteOncePod with other access modes"))
    return out


def _positive_quantity(v: Any, path: str) -> list[Cause]:
    # ValidatePositiveQuantityValue (malformed quantities are decode errors, reported elsewhere)
    if quantity.is_quantity(v) and quantity.parse_quantity(v) <= 0:
        return [invalid(path, quantity.format_quantity(v), "must be greater than zero")]
    return []


def _class_name(v: Any, path: str) -> list[Cause]:
    name = as_str(v)
    return [invalid(path, name, m) for m in names.is_dns1123_subdomain(name)] if name else []


def validate_pv(pv: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    spec = as_dict(pv.get("spec"))
    out = _access_modes(spec.get("accessModes"), "spec.accessModes", "")
    cap = as_dict(spec.get("capacity"))
    if not cap:
        out.append(required("spec.capacity"))
    if "storage" not in cap or len(cap) > 1:
        shown = GoRepr("core.ResourceList{" + ", ".join(f'"{k}":{{...}}' for k in sorted(cap)) + "}")
        out.append(not_supported("spec.capacity", shown, ["storage"]))
    for r in sorted(cap):
        out.extend(_positive_quantity(cap[r], key("spec.capacity", r)))
    policy = spec.get("persistentVolumeReclaimPolicy")
    if policy and policy not in RECLAIM_POLICIES:
        out.append(not_supported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    count = 0
    for field_name, err_name in PV_SOURCES:
        src = spec.get(field_name)
        if src is None:
            continue
        if count:
            out.append(forbidden(child("spec", err_name), "may not specify more than 1 volume type"))
            continue
        count += 1
        if field_name in ("hostPath", "local") and not as_str(as_dict(src).get("path")):
            out.append(required(child("spec", field_name, "path")))
        if field_name == "local" and spec.get("nodeAffinity") is None:
            out.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
    if count == 0:
        out.append(required("spec", "must specify a volume type"))
    out.extend(_class_name(spec.get("storageClassName"), "spec.storageClassName"))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        out.append(not_supported("spec.volumeMode", mode, VOLUME_MODES))
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        new_src = {f: spec.get(f) for f, _ in PV_SOURCES if spec.get(f) is not None}
        old_src = {f: old_spec.get(f) for f, _ in PV_SOURCES if old_spec.get(f) is not None}
        if new_src != old_src:
            out.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable "
                                 "after creation\n" + spec_diff(old_src, new_src, "core.PersistentVolumeSource")))
        out.extend(immutable("volumeMode", spec.get("volumeMode"), old_spec.get("volumeMode")))
    return out


def _storage_request(spec: dict[str, Any]) -> Any:
    return as_dict(as_dict(spec.get("resources")).get("requests")).get("storage")


def validate_pvc_spec(spec: Any, path: str) -> list[Cause]:
    """ValidatePersistentVolumeClaimSpec."""
    spec = as_dict(spec)
    out = _access_modes(spec.get("accessModes"), child(path, "accessModes"), "at least 1 access mode is required")
    if spec.get("selector") is not None:
        out.extend(validate_label_selector(spec.get("selector"), child(path, "selector")))
    storage = _storage_request(spec)
    spath = key(child(path, "resources"), "storage")
    if storage is None:
        out.append(required(spath))
    else:
        out.extend(_positive_quantity(storage, spath))
    out.extend(_class_name(spec.get("storageClassName"), child(path, "storageClassName")))
    mode = spec.get("volumeMode")
    if mode is not None and mode not in VOLUME_MODES:
        out.append(not_supported(child(path, "volumeMode"), mode, VOLUME_MODES))
    out.extend(_class_name(spec.get("volumeAttributesClassName"), child(path, "volumeAttributesClassName")))
    return out


def validate_pvc(pvc: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    out = validate_pvc_spec(pvc.get("spec"), "spec")
    if old is not None:
        out.extend(_pvc_update(pvc, old))
    return out


def _pvc_update(pvc: dict[str, Any], old: dict[str, Any]) -> list[Cause]:
    # ValidatePersistentVolumeClaimUpdate
    out: list[Cause] = []
    new_spec, old_spec = copy.deepcopy(as_dict(pvc.get("spec"))), copy.deepcopy(as_dict(old.get("spec")))
    if not as_str(old_spec.get("volumeName")):
        old_spec.pop("volumeName", None)
        if "volumeName" in new_spec:
            old_spec["volumeName"] = new_spec["volumeName"]
    if old_spec.get("storageClassName") is None and new_spec.get("storageClassName") is not None:
        old_spec["storageClassName"] = new_spec["storageClassName"]  # upgrade from nil
    phase = as_str(as_dict(pvc.get("status")).get("phase")) or as_str(as_dict(old.get("status")).get("phase"))
    if phase == "Bound":
        requests = as_dict(as_dict(new_spec.get("resources")).get("requests"))
        if requests:
            requests["storage"] = _storage_request(old_spec)
            if requests["storage"] is None:
                requests.pop("storage")
        if new_spec.get("volumeAttributesClassName") is not None:
            new_spec["volumeAttributesClassName"] = old_spec.get("volumeAttributesClassName")
            if new_spec["volumeAttributesClassName"] is None:
                new_spec.pop("volumeAttributesClassName")
    if new_spec != old_spec:
        out.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                     "volumeAttributesClassName for bound claims\n"
                             + spec_diff(old_spec, new_spec, "core.PersistentVolumeClaimSpec")))
    new_size, old_size = _storage_request(as_dict(pvc.get("spec"))), _storage_request(as_dict(old.get("spec")))
    if quantity.is_quantity(new_size) and quantity.is_quantity(old_size):
        if quantity.parse_quantity(new_size) < quantity.parse_quantity(old_size):
            status_cap = as_dict(as_dict(old.get("status")).get("capacity")).get("storage", 0)
            cap = quantity.parse_quantity(status_cap) if quantity.is_quantity(status_cap) else 0
            if quantity.parse_quantity(new_size) <= cap:
                out.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))
    out.extend(immutable("volumeMode", as_dict(pvc.get("spec")).get("volumeMode"),
                         as_dict(old.get("spec")).get("volumeMode")))
    return out
