"""PVC retention (persistentVolumeClaimRetentionPolicy) through ownerReferences: pure.

A claim's ownerReferences encode the policy: Retain/Retain none; WhenDeleted=Delete a
controller ref to the set; WhenScaled=Delete a controller ref to the pod once the pod is
scaled down (out of the ordinal range). Ports stateful_set_utils.go isClaimOwnerUpToDate,
updateClaimOwnerRefForSetAndPod, hasUnexpectedController, hasStaleOwnerRef and
stateful_pod_control.go PodClaimIsStale (Kubernetes 1.36).
"""

from __future__ import annotations

from typing import Any, Mapping

from kubeproc.controllers.statefulset.identity import in_ordinal_range, meta, spec

Obj = dict[str, Any]
RETAIN = "Retain"
DELETE = "Delete"
SET_KIND = ("apps/v1", "StatefulSet")
POD_KIND = ("v1", "Pod")


def retention_policy(sts: Mapping[str, Any]) -> tuple[str, str]:
    """(whenDeleted, whenScaled); Retain when unset (getPersistentVolumeClaimRetentionPolicy)."""
    p = spec(sts).get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(p, dict):
        return RETAIN, RETAIN
    return str(p.get("whenDeleted") or RETAIN), str(p.get("whenScaled") or RETAIN)


def _refs(claim: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in meta(claim).get("ownerReferences") or [] if isinstance(r, dict)]


def _matches_ref(ref: Mapping[str, Any], obj: Mapping[str, Any], kind: tuple[str, str]) -> bool:
    # matchesRef: same group/version, kind and name (the UID is not compared)
    return (ref.get("apiVersion") == kind[0] and ref.get("kind") == kind[1]
            and ref.get("name") == meta(obj).get("name"))


def _uid(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("uid") or "")


def has_owner_ref(claim: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = _uid(owner)
    return any(r.get("uid") == uid for r in _refs(claim))


def has_stale_owner_ref(claim: Mapping[str, Any], obj: Mapping[str, Any], kind: tuple[str, str]) -> bool:
    """A ref naming obj but with another UID (the first such ref decides)."""
    for r in _refs(claim):
        if _matches_ref(r, obj, kind):
            return r.get("uid") != _uid(obj)
    return False


def has_unexpected_controller(claim: Mapping[str, Any], sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    if retention_policy(sts) == (RETAIN, RETAIN):
        return False  # under Retain another controller may manage the claim
    for r in _refs(claim):
        if _matches_ref(r, sts, SET_KIND):
            if r.get("uid") != _uid(sts):
                return True  # a previous incarnation of the set: leave it to the GC
            continue
        if _matches_ref(r, pod, POD_KIND):
            if r.get("uid") != _uid(pod):
                return True
            continue
        if r.get("controller") is True:
            return True
    return False


def _has_non_controller_owner(claim: Mapping[str, Any], sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    uids = {_uid(sts), _uid(pod)}
    return any(r.get("uid") in uids and r.get("controller") is not True for r in _refs(claim))


def is_claim_owner_up_to_date(claim: Mapping[str, Any], sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """isClaimOwnerUpToDate: do the claim's refs encode the set's retention policy for pod?"""
    if has_stale_owner_ref(claim, sts, SET_KIND) or has_stale_owner_ref(claim, pod, POD_KIND):
        return True  # owned by a previous, presumably deleted, incarnation: do not touch
    if has_unexpected_controller(claim, sts, pod):
        # clean up our refs beside a foreign controller; otherwise add nothing on top of it
        return not (has_owner_ref(claim, sts) or has_owner_ref(claim, pod))
    if _has_non_controller_owner(claim, sts, pod):
        return False
    when_deleted, when_scaled = retention_policy(sts)
    on_set, on_pod = has_owner_ref(claim, sts), has_owner_ref(claim, pod)
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == RETAIN and when_deleted == DELETE:
        return on_set and not on_pod
    if when_scaled == DELETE and when_deleted == RETAIN:
        return not on_set and scaled_down == on_pod
    if when_scaled == DELETE and when_deleted == DELETE:
        return scaled_down != on_set and scaled_down == on_pod
    # Retain/Retain, and unknown policies treated as Retain
    return not on_set and not on_pod


def _controller_ref(owner: Mapping[str, Any], kind: tuple[str, str]) -> Obj:
    return {"apiVersion": kind[0], "kind": kind[1], "name": meta(owner).get("name"),
            "uid": _uid(owner), "controller": True, "blockOwnerDeletion": True}


def _add_controller_ref(refs: list[Obj], owner: Mapping[str, Any], kind: tuple[str, str]) -> list[Obj]:
    if any(r.get("uid") == _uid(owner) for r in refs):
        return refs
    return refs + [_controller_ref(owner, kind)]


def updated_owner_refs(claim: Mapping[str, Any], sts: Mapping[str, Any], pod: Mapping[str, Any]) -> list[Obj]:
    """updateClaimOwnerRefForSetAndPod: the claim's new ownerReferences (claim is not mutated)."""
    unexpected = has_unexpected_controller(claim, sts, pod)
    refs = [dict(r) for r in _refs(claim)
            if not (_matches_ref(r, sts, SET_KIND) or _matches_ref(r, pod, POD_KIND))]
    if unexpected:
        return refs
    when_deleted, when_scaled = retention_policy(sts)
    scaled_down = not in_ordinal_range(pod, sts)
    if when_scaled == RETAIN and when_deleted == DELETE:
        refs = _add_controller_ref(refs, sts, SET_KIND)
    elif when_scaled == DELETE and when_deleted == RETAIN:
        if scaled_down:
            refs = _add_controller_ref(refs, pod, POD_KIND)
    elif when_scaled == DELETE and when_deleted == DELETE:
        refs = _add_controller_ref(refs, pod, POD_KIND) if scaled_down else _add_controller_ref(refs, sts, SET_KIND)
    return refs


def pod_claim_is_stale(sts: Mapping[str, Any], pod: Mapping[str, Any], claims: Mapping[str, Mapping[str, Any]],
                       claim_names: list[str]) -> bool:
    """PodClaimIsStale: under whenScaled=Delete a claim still owned by a previous pod of the
    same name blocks the pod's re-creation until the garbage collector removed the claim."""
    if retention_policy(sts)[1] == RETAIN:
        return False
    return any(name in claims and has_stale_owner_ref(claims[name], pod, POD_KIND) for name in claim_names)
