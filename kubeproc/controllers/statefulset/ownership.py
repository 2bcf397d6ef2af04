"""Which pods and ControllerRevisions a StatefulSet owns, adopts or releases: pure.

Ports stateful_set.go getPodsForStatefulSet (ClaimPods filtered by isMemberOf) and
adoptOrphanRevisions, controller_ref_manager.go ClaimObject, and
controller_history.go ListControllerRevisions (selector match and no other controller).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from kubeproc.api.selectors import from_label_selector
from kubeproc.controllers.statefulset.identity import is_member_of, meta, spec

Obj = dict[str, Any]


def controller_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for r in meta(obj).get("ownerReferences") or []:
        if isinstance(r, dict) and r.get("controller") is True:
            return r
    return None


@dataclass
class Claimed:
    owned: list[Obj] = field(default_factory=list)  # includes the ones adopted now
    adopt: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def claim_pods(sts: Mapping[str, Any], pods: Sequence[Mapping[str, Any]]) -> Claimed:
    """ClaimPods(selector, isMemberOf): keep ours that match, release ours that no longer match
    (unless the set is being deleted), adopt matching live orphans of the same namespace."""
    selector = from_label_selector(spec(sts).get("selector"))
    uid = meta(sts).get("uid")
    deleting = bool(meta(sts).get("deletionTimestamp"))
    out = Claimed()
    for pod in pods:
        if meta(pod).get("namespace") != meta(sts).get("namespace"):
            continue
        match = selector.matches(meta(pod).get("labels") or {}) and is_member_of(sts, pod)
        ref = controller_of(pod)
        if ref is not None:
            if ref.get("uid") != uid:
                continue  # another controller's
            if match:
                out.owned.append(dict(pod))
            elif not deleting:
                out.release.append(dict(pod))
            continue
        if deleting or not match or meta(pod).get("deletionTimestamp"):
            continue
        out.adopt.append(dict(pod))
        out.owned.append(dict(pod))
    return out


def list_revisions(sts: Mapping[str, Any], revisions: Sequence[Mapping[str, Any]]) -> list[Obj]:
    """ListControllerRevisions: same namespace, selector matches, controlled by us or nobody."""
    selector = from_label_selector(spec(sts).get("selector"))
    uid = meta(sts).get("uid")
    out: list[Obj] = []
    for r in revisions:
        if meta(r).get("namespace") != meta(sts).get("namespace"):
            continue
        if not selector.matches(meta(r).get("labels") or {}):
            continue
        ref = controller_of(r)
        if ref is None or ref.get("uid") == uid:
            out.append(dict(r))
    return out
