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
    # validation.go ValidateDeleteOptions: both-set first, then the supported policies
    if policy is not None and options.get("orphanDependents") is not None:
        causes.append(errors.invalid("propagationPolicy", policy,
                                     "orphanDependents and deletionPropagation cannot be both set"))
    if policy is not None and policy not in _POLICIES:
        causes.append(errors.not_supported("propagationPolicy", policy,
                                           ["Foreground", "Background", "Orphan", "nil"]))
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
    # rest.BeforeDelete checks these first; its conflict names the kind, not the resource
    pre = options.get("preconditions") or {}
    meta = obj.get("metadata", {})
    name = meta.get("name", "")
    if pre.get("uid") is not None and pre["uid"] != meta.get("uid"):
        raise errors.Conflict.of(resource.kind, resource.group, name,
                                 f"the UID in the precondition ({pre['uid']}) does not match the "
                                 f"UID in record ({meta.get('uid', '')}). The object might have "
                                 "been deleted and then recreated")
    if (pre.get("resourceVersion") is not None
            and pre["resourceVersion"] != meta.get("resourceVersion")):
        raise errors.Conflict.of(resource.kind, resource.group, name,
                                 f"the ResourceVersion in the precondition "
                                 f"({pre['resourceVersion']}) does not match the ResourceVersion "
                                 f"in record ({meta.get('resourceVersion', '')}). The object "
                                 "might have been modified")


def _pod_grace(obj: dict[str, Any], grace: int | None) -> int:
    """pod strategy CheckGracefulDelete: the grace period a first delete gives the pod."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if grace is None:
        grace = int(spec.get("terminationGracePeriodSeconds") or 0)
    # unscheduled or finished pods go at once
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    return 1 if grace < 0 else grace


def _shift(ts: str, seconds: int) -> str:
    base = objectmeta.parse_time(ts)
    assert base is not None
    return objectmeta.now_rfc3339(base + _dt.timedelta(seconds=seconds))


def plan_delete(resource: Resource, stored: dict[str, Any], options: dict[str, Any],
                now: str) -> Decision:
    policy = _check_options(options)
    _check_preconditions(resource, stored, options)
    grace_opt = options.get("gracePeriodSeconds")
    if grace_opt is not None and grace_opt < 0:
        grace_opt = 1  # rest.BeforeDelete: negative values mean 1s
    obj = copy.deepcopy(stored)
    meta = obj.setdefault("metadata", {})
    already = bool(meta.get("deletionTimestamp"))
    pod = resource.kind == "Pod"
    current = meta.get("deletionGracePeriodSeconds")
    if pod and already and current is not None and int(current) > 0:
        # BeforeDelete on an object already being deleted gracefully: only a shorter grace
        # period counts, measured from the original request; otherwise nothing changes (not
        # even finalizers: store.go "finalizers cannot be updated ... if deletion has started")
        current = int(current)
        if grace_opt is None or grace_opt >= current:
            return Decision(obj, remove=False, changed=False)
        meta["deletionTimestamp"] = _shift(meta["deletionTimestamp"], grace_opt - current)
        meta["deletionGracePeriodSeconds"] = grace_opt
        finalizers = _gc_finalizers(meta, policy)
        _set_finalizers(meta, finalizers)
        if grace_opt == 0 and not finalizers:
            return Decision(obj, remove=True, changed=False)
        return Decision(obj, remove=False, changed=True)

    finalizers = _gc_finalizers(meta, policy)
    before = list(meta.get("finalizers") or [])
    if resource.kind == "Namespace":
        return _namespace_delete(obj, now, finalizers)

    grace = _pod_grace(obj, grace_opt) if pod and not already else 0
    if not finalizers and grace == 0:
        return Decision(obj, remove=True, changed=False)

    changed = finalizers != before
    _set_finalizers(meta, finalizers)
    if grace > 0:
        # BeforeDelete: deletionTimestamp is when the grace period runs out
        meta["deletionTimestamp"] = _shift(now, grace)
        meta["deletionGracePeriodSeconds"] = grace
        changed = True
    else:
        # store.go markAsDeleting: never later than now, grace period 0
        existing = objectmeta.parse_time(meta.get("deletionTimestamp"))
        if existing is None or existing > objectmeta.parse_time(now):
            meta["deletionTimestamp"] = now
            changed = True
        if meta.get("deletionGracePeriodSeconds") != 0:
            meta["deletionGracePeriodSeconds"] = 0
            changed = True
    if changed and not already and meta.get("generation"):
        meta["generation"] = int(meta["generation"]) + 1  # rest.BeforeDelete / markAsDeleting
    return Decision(obj, remove=False, changed=changed)


def _gc_finalizers(meta: dict[str, Any], policy: str | None) -> list[str]:
    """store.go deletionFinalizersForGarbageCollection: the policy adds/removes orphan/foreground."""
    finalizers = list(meta.get("finalizers") or [])
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
    return finalizers


def _set_finalizers(meta: dict[str, Any], finalizers: list[str]) -> None:
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)


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
