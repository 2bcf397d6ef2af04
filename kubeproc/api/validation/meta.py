"""ObjectMeta validation on create and update, and label/annotation maps.

Follows apimachinery/pkg/api/validation/objectmeta.go (ValidateObjectMetaAccessor,
ValidateObjectMetaAccessorUpdate), metav1 validation ValidateLabels, and the core wrapper's
extra finalizer rule (pkg/apis/core/validation validateKubeFinalizerName).
"""

from __future__ import annotations

from typing import Any

from kubeproc.api.errors import Cause
from kubeproc.api.validation import names
from kubeproc.api.validation.fielderr import (
    GoRepr, as_dict, as_list, as_str, child, forbidden, immutable, index, invalid, nonnegative,
    required, too_long,
)

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # objectmeta.go TotalAnnotationSizeLimitB
_STANDARD_FINALIZERS = {"kubernetes", "orphan", "foregroundDeletion"}  # core helper


def validate_label_name(name: str, path: str) -> list[Cause]:
    return [invalid(path, name, m) for m in names.is_qualified_name(name)]


def validate_labels(labels: Any, path: str) -> list[Cause]:
    # metav1 validation ValidateLabels: errors carry the map path, not the key
    out: list[Cause] = []
    for k, v in as_dict(labels).items():
        out.extend(validate_label_name(k, path))
        out.extend(invalid(path, v, m) for m in names.is_label_value(as_str(v)))
    return out


def validate_annotations(annotations: Any, path: str) -> list[Cause]:
    # objectmeta.go ValidateAnnotations
    ann = as_dict(annotations)
    out = []
    for k in ann:
        out.extend(invalid(path, k, m) for m in names.is_qualified_name(k.lower()))
    size = sum(len(k.encode()) + len(as_str(v).encode()) for k, v in ann.items())
    if size > TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(too_long(path, TOTAL_ANNOTATION_SIZE_LIMIT))
    return out


def _owner_references(refs: Any, path: str) -> list[Cause]:
    # objectmeta.go ValidateOwnerReferences
    out: list[Cause] = []
    first_controller = ""
    for ref in as_list(refs):
        ref = as_dict(ref)
        api_version = as_str(ref.get("apiVersion"))
        version = api_version.rpartition("/")[2]
        kind = as_str(ref.get("kind"))
        if not version:
            out.append(invalid(child(path, "apiVersion"), api_version, "version must not be empty"))
        if not kind:
            out.append(invalid(child(path, "kind"), kind, "kind must not be empty"))
        if not as_str(ref.get("name")):
            out.append(invalid(child(path, "name"), as_str(ref.get("name")), "name must not be empty"))
        if not as_str(ref.get("uid")):
            out.append(invalid(child(path, "uid"), as_str(ref.get("uid")), "uid must not be empty"))
        if api_version == "v1" and kind == "Event":
            out.append(invalid(path, GoRepr("v1.OwnerReference{...}"),
                               "/v1, Kind=Event is disallowed from being an owner"))
        if ref.get("controller") is True:
            current = f"{kind}/{as_str(ref.get('name'))}"
            if first_controller:
                out.append(invalid(path, GoRepr("[]v1.OwnerReference{...}"),
                                   "Only one reference can have Controller set to true. Found \"true\" "
                                   f"in references for {first_controller} and {current}"))
            else:
                first_controller = current
    return out


def _finalizers(finalizers: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    items = [as_str(f) for f in as_list(finalizers)]
    for f in items:
        out.extend(invalid(path, f, m) for m in names.is_qualified_name(f))
    if "orphan" in items and "foregroundDeletion" in items:
        out.append(invalid(path, items, "finalizer orphan and foregroundDeletion cannot be both set"))
    # core validateKubeFinalizerName, indexed path
    for i, f in enumerate(items):
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            out.append(invalid(index(path, i), f,
                               "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_object_meta(meta: Any, namespaced: bool, name_fn: names.NameFn,
                         path: str = "metadata") -> list[Cause]:
    """objectmeta.go ValidateObjectMetaAccessor plus the core finalizer rule."""
    meta = as_dict(meta)
    out: list[Cause] = []
    gen_name = as_str(meta.get("generateName"))
    if gen_name:
        out.extend(invalid(child(path, "generateName"), gen_name, m) for m in name_fn(gen_name, True))
    name = as_str(meta.get("name"))
    if not name:
        out.append(required(child(path, "name"), "name or generateName is required"))
    else:
        out.extend(invalid(child(path, "name"), name, m) for m in name_fn(name, False))
    ns = as_str(meta.get("namespace"))
    if namespaced:
        if not ns:
            out.append(required(child(path, "namespace")))
        else:
            out.extend(invalid(child(path, "namespace"), ns, m)
                       for m in names.name_is_dns_label(ns, False))
    elif ns:
        out.append(forbidden(child(path, "namespace"), "not allowed on this type"))
    out.extend(nonnegative(child(path, "generation"), meta.get("generation")))
    out.extend(validate_labels(meta.get("labels"), child(path, "labels")))
    out.extend(validate_annotations(meta.get("annotations"), child(path, "annotations")))
    out.extend(_owner_references(meta.get("ownerReferences"), child(path, "ownerReferences")))
    out.extend(_finalizers(meta.get("finalizers"), child(path, "finalizers")))
    return out


def validate_object_meta_update(new: Any, old: Any, path: str = "metadata") -> list[Cause]:
    """objectmeta.go ValidateObjectMetaAccessorUpdate.

    resourceVersion/generation bookkeeping is the registry's job (upstream store.go and
    rest.BeforeUpdate fill them before validation), so they are not re-checked here; a
    missing uid/creationTimestamp in the new object means "unchanged" (BeforeUpdate copies them).
    """
    new, old = as_dict(new), as_dict(old)
    out: list[Cause] = []
    if old.get("deletionTimestamp"):
        extra = sorted(set(as_list(new.get("finalizers"))) - set(as_list(old.get("finalizers"))))
        if extra:
            listed = "[]string{" + ", ".join(f'"{f}"' for f in extra) + "}"
            out.append(forbidden(child(path, "finalizers"),
                                 "no new finalizers can be added if the object is being deleted, "
                                 f"found new finalizers {listed}"))
    out.extend(immutable(child(path, "name"), as_str(new.get("name")), as_str(old.get("name"))))
    out.extend(immutable(child(path, "namespace"), as_str(new.get("namespace")),
                         as_str(old.get("namespace"))))
    if new.get("uid"):
        out.extend(immutable(child(path, "uid"), new.get("uid"), old.get("uid")))
    if new.get("creationTimestamp"):
        out.extend(immutable(child(path, "creationTimestamp"), new.get("creationTimestamp"),
                             old.get("creationTimestamp")))
    out.extend(validate_labels(new.get("labels"), child(path, "labels")))
    out.extend(validate_annotations(new.get("annotations"), child(path, "annotations")))
    out.extend(_owner_references(new.get("ownerReferences"), child(path, "ownerReferences")))
    for i, f in enumerate(as_list(new.get("finalizers"))):
        f = as_str(f)
        if "/" not in f and f not in _STANDARD_FINALIZERS:
            out.append(invalid(index(child(path, "finalizers"), i), f,
                               "name is neither a standard finalizer name nor is it fully qualified"))
    return out


def validate_template_meta(meta: Any, path: str) -> list[Cause]:
    """Labels and annotations of an embedded template (ValidatePodTemplateSpec's first checks)."""
    meta = as_dict(meta)
    return (validate_labels(meta.get("labels"), child(path, "labels"))
            + validate_annotations(meta.get("annotations"), child(path, "annotations")))
