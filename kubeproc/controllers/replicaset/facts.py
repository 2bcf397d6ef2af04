"""What the ReplicaSet controller reads of each pod, computed once per pod revision.

`PodFacts` holds a pod revision's controllerRef uid, labels, activity, termination and Ready
condition (controller_utils.go IsPodActive / FilterTerminatingPods, pkg/api/v1/pod IsPodReady)
and remembers its last selector match; `claim_facts` is podcontrol.claim_pods
(controller_ref_manager.go ClaimPods) over them. Every reconcile of an owner looks at all of
its pods, so a scale-up of n pods reads each pod O(n) times: this keeps each read O(1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from kubeproc.api import selectors
from kubeproc.controllers import podcontrol

Obj = dict[str, Any]


class PodFacts:
    """What a reconcile reads of one pod revision, computed once per watch event (a pod is
    looked at by every reconcile of its owner: a scale-up of n pods is O(n²) such looks)."""
    __slots__ = ("pod", "has_controller", "controller_uid", "labels", "active", "terminating",
                 "deleting", "ready", "_sel", "_match")

    def __init__(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        ref = podcontrol.controller_of(pod)
        done = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        cond = podcontrol.ready_condition(pod)
        self.pod = pod
        self.has_controller = ref is not None
        self.controller_uid: str | None = None if ref is None else ref.get("uid")
        self.labels: Mapping[str, str] = meta.get("labels") or {}
        self.deleting = bool(meta.get("deletionTimestamp"))
        self.active = not done and not self.deleting  # controller_utils.go IsPodActive
        self.terminating = self.deleting and not done  # FilterTerminatingPods
        # IsPodReady: the Ready condition, kept when it is True
        self.ready = cond if cond is not None and cond.get("status") == "True" else None
        self._sel: selectors.LabelSelector | None = None
        self._match = False

    def matches(self, sel: selectors.LabelSelector) -> bool:
        """sel.matches(labels), remembered for the last selector asked."""
        if sel is not self._sel:
            self._sel, self._match = sel, sel.matches(self.labels)
        return self._match


class FactsClaim(NamedTuple):
    """podcontrol.Claim over facts: ours (facts), orphans to adopt and ours to release (pods)."""
    owned: list[PodFacts]
    adopt: list[Obj]
    release: list[Obj]


def claim_facts(owner: Obj, facts: list[PodFacts], sel: selectors.LabelSelector) -> FactsClaim:
    """podcontrol.claim_pods (controller_ref_manager.go ClaimPods) over memoized facts: the
    same decisions, without re-reading each pod's ownerReferences and metadata per reconcile."""
    meta = owner["metadata"]
    uid, owner_deleting, ns = meta.get("uid"), bool(meta.get("deletionTimestamp")), meta.get("namespace")
    owned: list[PodFacts] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    for f in facts:
        match = f.matches(sel)
        if f.has_controller:
            if f.controller_uid != uid:
                continue
            if match:
                owned.append(f)
            elif not owner_deleting:
                release.append(f.pod)
            continue
        if owner_deleting or not match or f.deleting:
            continue
        if ns and ns != (f.pod.get("metadata") or {}).get("namespace"):
            continue
        adopt.append(f.pod)
    return FactsClaim(owned, adopt, release)
