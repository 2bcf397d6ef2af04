"""Subresources with their own object shapes: scale, binding, and access reviews (eviction
is `eviction.py`).

scale follows pkg/registry/apps/deployment/storage (ScaleREST) and friends; binding follows
pkg/registry/core/pod/storage (BindingREST).
"""

from __future__ import annotations

import datetime as _dt

import copy
from typing import Any

from kubeproc.api import errors, resources, selectors
from kubeproc.api.resources import Resource
from kubeproc.registry import patching
from kubeproc.registry.registry import Registry, WriteOptions, stale

_POD = resources.by_kind("", "Pod")


def _scale_selector(resource: Resource, obj: dict[str, Any]) -> str:
    sel = (obj.get("spec") or {}).get("selector")
    if resource.kind == "ReplicationController":
        return ",".join(f"{k}={v}" for k, v in sorted((sel or {}).items()))
    return selectors.selector_string(sel)


def to_scale(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0) or 0)},
        "status": {"replicas": int((obj.get("status") or {}).get("replicas", 0) or 0),
                   "selector": _scale_selector(resource, obj)},
    }


def get_scale(reg: Registry, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
    return to_scale(resource, reg.get_obj(resource, namespace, name))


def _check_scale(scale: Any, name: str) -> int:
    if not isinstance(scale, dict) or scale.get("kind") not in (None, "Scale"):
        raise errors.BadRequest("the body of the request must be an autoscaling/v1 Scale")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.BadRequest("Scale in version \"v1\" cannot be handled as a Scale: "
                                "spec.replicas must be an integer")
    if replicas < 0:
        raise errors.Invalid.of("Scale", "autoscaling", name, [
            errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")])
    return replicas


async def update_scale(reg: Registry, resource: Resource, namespace: str, name: str,
                       scale: Any, opts: WriteOptions) -> dict[str, Any]:
    replicas = _check_scale(scale, name)
    want_rv = (scale.get("metadata") or {}).get("resourceVersion")

    def mutate(old: dict[str, Any]) -> dict[str, Any]:
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise stale(resource, name)
        old.setdefault("spec", {})["replicas"] = replicas
        return old
    obj, _ = await reg.patch_with(resource, namespace, name, mutate, opts)
    return to_scale(resource, obj)


async def patch_scale(reg: Registry, resource: Resource, namespace: str, name: str,
                      patch_type: str, body: bytes, opts: WriteOptions) -> dict[str, Any]:
    """The patch applies to the Scale of the latest object (upstream's GuaranteedUpdate retries it
    on a fresh read), so a controller's concurrent status write is no conflict; only a
    resourceVersion the patch itself sets is a precondition."""
    fn = patching.mutator(resource, patch_type, body, def_name="io.k8s.api.autoscaling.v1.Scale")

    def mutate(old: dict[str, Any]) -> dict[str, Any]:
        current = to_scale(resource, old)
        patched = fn(copy.deepcopy(current))
        replicas = _check_scale(patched, name)
        if (patched.get("metadata") or {}).get("resourceVersion") != current["metadata"].get("resourceVersion"):
            raise stale(resource, name)
        old.setdefault("spec", {})["replicas"] = replicas
        return old
    obj, _ = await reg.patch_with(resource, namespace, name, mutate, opts)
    return to_scale(resource, obj)


async def bind(reg: Registry, namespace: str, name: str, binding: Any) -> dict[str, Any]:
    assert _POD is not None
    node = ((binding or {}).get("target") or {}).get("name") if isinstance(binding, dict) else None
    if not node:
        raise errors.Invalid.of("Binding", "", name, [errors.required("target.name")])

    def mutate(old: dict[str, Any]) -> dict[str, Any]:
        current = (old.get("spec") or {}).get("nodeName")
        if current:
            raise errors.Conflict.of("pods/binding", "", name,
                                     f"pod {name} is already assigned to node \"{current}\"")
        old.setdefault("spec", {})["nodeName"] = node
        # storage.go assignPod/setPodHostAndAnnotations: the binding also marks PodScheduled
        status = old.setdefault("status", {})
        conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
        prev = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), None)
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        keep = prev is not None and prev.get("status") == "True"
        conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                      "lastTransitionTime": prev.get("lastTransitionTime") if keep and prev else now})
        status["conditions"] = conds
        return old
    await reg.patch_with(_POD, namespace, name, mutate, WriteOptions(field_manager="kubeproc-scheduler",
                                                                  subresource="binding"))
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def access_review(review: Any) -> dict[str, Any]:
    """One admin identity holds every permission: each review is allowed, as for cluster-admin."""
    if not isinstance(review, dict) or not isinstance(review.get("spec"), dict):
        raise errors.BadRequest("the body of the request must be a SelfSubjectAccessReview")
    spec = review["spec"]
    if not spec.get("resourceAttributes") and not spec.get("nonResourceAttributes"):
        raise errors.Invalid.of("SelfSubjectAccessReview", "authorization.k8s.io", "", [
            errors.invalid("spec.resourceAttributes", None,
                           "exactly one of nonResourceAttributes or resourceAttributes must be specified")])
    out = dict(review)
    out["apiVersion"] = "authorization.k8s.io/v1"
    out["kind"] = "SelfSubjectAccessReview"
    out.setdefault("metadata", {})
    out["status"] = {"allowed": True, "reason": "kubeproc: the admin token holds every permission"}
    return out
