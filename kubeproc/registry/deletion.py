"""Deciding what a DELETE does: preconditions, propagation finalizers, graceful deletion.

Pure: given the stored object and DeleteOptions, return the object to write (with
deletionTimestamp and finalizers) or say it goes now. Follows
k8s.io/apiserver/pkg/registry/generic/registry/store.go (Delete,
updateForGracefulDeletionAndFinalizers, deletionFinalizersForGarbageCollection),
k8s.io/apiserver/pkg/registry/rest/delete.go (BeforeDelete) and
pkg/registry/core/pod/strategy.go (CheckGracefulDelete).
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass
from typing import Any

from kubeproc.api import errors
from kubeproc.api.resources import Resource
from kubeproc.registry import objectmeta

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
_POLICIES = ("Orphan", "Background", "Foreground")


@dataclass(frozen=True)
class Decision:
    obj: dict[str, Any]
    remove: bool  # delete the key now
    changed: bool  # write `obj` (deletionTimestamp / finalizers moved)


def _check_options(options: dict[str, Any]) -> str | None:
    policy = options.get("propagationPolicy")
    causes = []
    if policy is not None and policy not in _POLICIES:
        causes.append(errors.not_supported("propagationPolicy", policy, list(_POLICIES)))
    if policy is not None and options.get("orphanDependents") is not None:
        causes.append(errors.invalid("propagationPolicy", policy,
                                     "orphanDependents and deletionPropagation cannot be both set"))
    grace = options.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        causes.append(errors.invalid("gracePeriodSeconds", grace, "must be an integer"))
    dry = options.get("dryRun")
    if dry not in (None, [], ["All"]):
        causes.append(errors.not_supported("dryRun", dry, ["All"]))
    if causes:
        raise errors.Invalid.of("DeleteOptions", "meta.k8s.io", "", causes)
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    return policy


def _check_preconditions(resource: Resource, obj: dict[str, Any], options: dict[str, Any]) -> None:
    pre = options.get("preconditions") or {}
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    if pre.get("uid") and pre["uid"] != meta.get("uid"):
        raise errors.Conflict.of(resource.plural, resource.group, name,
                                 f"Precondition failed: UID in precondition: {pre['uid']}, "
                                 f"UID in object meta: {meta.get('uid')}")
    if pre.get("resourceVersion") and pre["resourceVersion"] != meta.get("resourceVersion"):
        raise errors.Conflict.of(resource.plural, resource.group, name,
                                 f"Precondition failed: ResourceVersion in precondition: "
                                 f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                                 f"{meta.get('resourceVersion')}")


def _pod_grace(obj: dict[str, Any], options: dict[str, Any]) -> int:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    # CheckGracefulDelete: unscheduled or finished pods go at once
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    return max(int(grace or 0), 0)


def plan_delete(resource: Resource, stored: dict[str, Any], options: dict[str, Any],
                now: str) -> Decision:
    policy = _check_options(options)
    _check_preconditions(resource, stored, options)
    obj = copy.deepcopy(stored)
    meta = obj.setdefault("metadata", {})
    finalizers = list(meta.get("finalizers") or [])
    before = list(finalizers)
    if policy == "Orphan":
        finalizers = [f for f in finalizers if f != FOREGROUND]
        if ORPHAN not in finalizers:
            finalizers.append(ORPHAN)
    elif policy == "Foreground":
        finalizers = [f for f in finalizers if f != ORPHAN]
        if FOREGROUND not in finalizers:
            finalizers.append(FOREGROUND)
    elif policy == "Background":
        finalizers = [f for f in finalizers if f not in (ORPHAN, FOREGROUND)]
    if resource.kind == "Namespace":
        return _namespace_delete(obj, now, finalizers)

    grace = _pod_grace(obj, options) if resource.kind == "Pod" else 0
    already = bool(meta.get("deletionTimestamp"))
    if not finalizers and grace == 0:
        return Decision(obj, remove=True, changed=False)

    changed = finalizers != before
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    if resource.kind == "Pod" and grace > 0:
        current = meta.get("deletionGracePeriodSeconds")
        if not already or current is None or grace < int(current):
            when = objectmeta.parse_time(now) + _dt.timedelta(seconds=grace)
            meta["deletionTimestamp"] = objectmeta.now_rfc3339(when)
            meta["deletionGracePeriodSeconds"] = grace
            changed = True
    elif not already:
        meta["deletionTimestamp"] = now
        meta["deletionGracePeriodSeconds"] = 0
        changed = True
    if changed and not already and meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1  # rest.BeforeDelete
    return Decision(obj, remove=False, changed=changed)


def _namespace_delete(obj: dict[str, Any], now: str, finalizers: list[str]) -> Decision:
    """pkg/registry/core/namespace/storage: a namespace goes Terminating until finalized."""
    meta = obj["metadata"]
    changed = False
    if finalizers != list(meta.get("finalizers") or []):
        changed = True
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    spec_finalizers = (obj.get("spec") or {}).get("finalizers") or []
    if not meta.get("deletionTimestamp"):
        if not spec_finalizers and not finalizers:
            return Decision(obj, remove=True, changed=False)
        meta["deletionTimestamp"] = now
        meta["deletionGracePeriodSeconds"] = 0
        obj.setdefault("status", {})["phase"] = "Terminating"
        changed = True
    elif not spec_finalizers and not finalizers:
        return Decision(obj, remove=True, changed=False)
    return Decision(obj, remove=False, changed=changed)
