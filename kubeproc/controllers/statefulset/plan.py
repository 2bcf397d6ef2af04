"""One StatefulSet sync as an ordered list of actions: pure (inputs + `now` → actions).

Ports pkg/controller/statefulset/stateful_set_control.go (UpdateStatefulSet, performUpdate,
updateStatefulSet, processReplica, processCondemned, runForAll/slowStartBatch,
updateStatefulSetAfterInvariantEstablished with MaxUnavailableStatefulSet on, as in 1.37,
updateStatefulSetStatus) and the pod/claim side of stateful_pod_control.go, Kubernetes 1.36.
Executor contract: apply the actions in order; on a failed pod/claim/revision write, skip the
remaining pod and claim writes but still apply UpdateStatus and DeleteRevision, then requeue
with backoff; `error` also asks for a rate-limited requeue; `requeue_after` a delayed one.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from kubeproc.controllers.statefulset import identity as ident
from kubeproc.controllers.statefulset import storage
from kubeproc.controllers.statefulset.actions import (
    Action, AdoptPod, AdoptRevision, CreateClaim, CreatePod, CreateRevision, DeletePod, DeleteRevision,
    ReleasePod, StatefulSetActions, UpdateClaimOwnerRefs, UpdatePod, UpdateRevision, UpdateStatus)
from kubeproc.controllers.statefulset.history import apply_revision, resolve_revisions, revisions_to_delete
from kubeproc.controllers.statefulset.identity import meta, spec, status
from kubeproc.controllers.statefulset.ownership import claim_pods, controller_of, list_revisions

Obj = dict[str, Any]
MAX_BATCH_SIZE = 500  # stateful_set_control.go MaxBatchSize


def max_unavailable(value: Any, replicas: int) -> int:
    """getStatefulSetMaxUnavailable: int or percent (rounded down) of replicas, at least 1."""
    if value is None:
        n = 1
    elif isinstance(value, str) and value.endswith("%"):
        n = math.floor(int(value[:-1]) * replicas / 100)
    else:
        n = int(value)
    return max(n, 1)


def _replica_status(pods: Sequence[Mapping[str, Any]], min_ready: int, now: datetime,
                    current: str, update: str) -> dict[str, int]:
    """computeReplicaStatus summed over the lists (updateStatus)."""
    s = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0}
    for pod in pods:
        created = ident.is_created(pod)
        s["replicas"] += created
        if ident.is_running_and_ready(pod):
            s["readyReplicas"] += 1
            s["availableReplicas"] += ident.is_running_and_available(pod, min_ready, now)
        if created and not ident.is_terminating(pod):
            rev = ident.pod_revision(pod)
            s["currentReplicas"] += rev == current
            s["updatedReplicas"] += rev == update
    return s


class _Sync:
    """updateStatefulSet over one snapshot; records actions instead of calling the API."""

    def __init__(self, sts: Obj, pods: list[Obj], claims: Mapping[str, Obj], current: Obj, update: Obj,
                 now: datetime) -> None:
        self.sts, self.now = sts, now
        self.actions: list[Action] = []
        self.error = ""
        self.current, self.update = current, update
        self.current_set = apply_revision(sts, current)
        self.update_set = apply_revision(sts, update)
        self.claims = {k: dict(v) for k, v in claims.items()}  # claim view, refreshed by our updates
        self.monotonic = spec(sts).get("podManagementPolicy") != "Parallel"  # !allowsBurst
        self.min_ready = int(spec(sts).get("minReadySeconds") or 0)
        self.pods = pods

    # -- claims (stateful_pod_control.go) --
    def _claim_names(self, pod: Mapping[str, Any]) -> list[str]:
        return [c["metadata"]["name"] for _, c in ident.claims_for(self.sts, ident.ordinal_of(pod))]

    def _create_claims(self, pod: Mapping[str, Any]) -> bool:
        """createPersistentVolumeClaims: create the missing ones; a terminating one is an error."""
        ok = True
        for _, claim in ident.claims_for(self.sts, ident.ordinal_of(pod)):
            existing = self.claims.get(claim["metadata"]["name"])
            if existing is None:
                self.actions.append(CreateClaim(claim, str(meta(pod).get("name"))))
            elif ident.is_terminating(existing):
                self._fail(f"pvc {claim['metadata']['name']} is being deleted")
                ok = False
        return ok

    def _claims_match(self, sts: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
        """ClaimsMatchRetentionPolicy: missing claims count as matching."""
        return all(storage.is_claim_owner_up_to_date(self.claims[n], sts, pod)
                   for n in self._claim_names(pod) if n in self.claims)

    def _update_claims_for_policy(self, sts: Mapping[str, Any], pod: Mapping[str, Any]) -> None:
        """UpdatePodClaimForRetentionPolicy."""
        for n in self._claim_names(pod):
            claim = self.claims.get(n)
            if claim is None or storage.is_claim_owner_up_to_date(claim, sts, pod):
                continue
            refs = storage.updated_owner_refs(claim, sts, pod)
            self.actions.append(UpdateClaimOwnerRefs(n, refs, str(meta(pod).get("name"))))
            claim = dict(claim, metadata=dict(meta(claim), ownerReferences=refs))
            self.claims[n] = claim

    def _fail(self, message: str) -> None:
        self.error = self.error or message

    # -- pods --
    def _new_versioned_pod(self, ordinal: int) -> Obj:
        """newVersionedStatefulSetPod (the Go operator precedence is kept: `A && B || C`)."""
        strategy = spec(self.current_set).get("updateStrategy") or {}
        rolling = strategy.get("rollingUpdate")
        start = ident.start_ordinal(self.current_set)
        below_current = (strategy.get("type", "RollingUpdate") == "RollingUpdate" and rolling is None
                         and ordinal < start + int(status(self.current_set).get("currentReplicas") or 0))
        below_partition = (isinstance(rolling, dict)
                           and ordinal < start + int(rolling.get("partition") or 0))
        if below_current or below_partition:
            return ident.new_pod(self.current_set, ordinal, str(meta(self.current).get("name")))
        return ident.new_pod(self.update_set, ordinal, str(meta(self.update).get("name")))

    def _delete(self, pod: Mapping[str, Any], reason: str) -> None:
        self.actions.append(DeletePod(str(meta(pod).get("name")), str(meta(pod).get("uid") or ""), reason))

    def _process_replica(self, replicas: list[Obj], i: int) -> tuple[bool, bool]:
        """processReplica → (should exit, failed)."""
        pod, mono = replicas[i], self.monotonic
        if ident.is_failed(pod) or ident.is_succeeded(pod):
            if not ident.is_terminating(pod):
                self._delete(pod, "failed")  # recreated on a later sync, once it is gone
            return True, False
        if not ident.is_created(pod):
            if storage.pod_claim_is_stale(self.sts, pod, self.claims, self._claim_names(pod)):
                return True, False  # the GC must remove the previous pod's claim first
            if not self._create_claims(pod):  # CreateStatefulPod: claims first, then the pod
                return True, True
            self.actions.append(CreatePod(copy.deepcopy(pod)))
            self._update_claims_for_policy(self.sts, pod)
            if mono:
                return True, False
        if ident.is_pending(pod):
            if not self._create_claims(pod):  # createMissingPersistentVolumeClaims
                return True, True
            self._update_claims_for_policy(self.sts, pod)
        if mono and (ident.is_terminating(pod) or not ident.is_running_and_ready(pod)
                     or not ident.is_running_and_available(pod, self.min_ready, self.now)):
            return True, False
        if (ident.identity_matches(self.sts, pod) and ident.storage_matches(self.sts, pod)
                and self._claims_match(self.update_set, pod)):
            return False, False
        return False, not self._update_pod(pod)

    def _update_pod(self, listed: Obj) -> bool:
        """UpdateStatefulPod(updateSet, pod): repair identity and storage, fix claim refs."""
        pod, dirty = copy.deepcopy(listed), False
        if not ident.identity_matches(self.update_set, pod):
            ident.update_identity(self.update_set, pod)
            dirty = True
        if not ident.storage_matches(self.update_set, pod):
            ident.update_storage(self.update_set, pod)
            dirty = True
            if not self._create_claims(pod):
                return False
        if not self._claims_match(self.update_set, pod):
            self._update_claims_for_policy(self.update_set, pod)
            dirty = True
        if dirty:
            self.actions.append(UpdatePod(pod))
        return True

    def _process_condemned(self, condemned: list[Obj], i: int, first_unhealthy: Obj | None) -> tuple[bool, bool]:
        """processCondemned: in monotonic mode wait for terminations and for every other pod to
        be healthy; the first unhealthy pod itself may go (so a broken top pod is not stuck)."""
        pod = condemned[i]
        if ident.is_terminating(pod):
            return self.monotonic, False
        if self.monotonic and pod is not first_unhealthy and (
                not ident.is_running_and_ready(pod)
                or not ident.is_running_and_available(pod, self.min_ready, self.now)):
            return True, False
        self._delete(pod, "condemned")
        return True, False

    def _run_for_all(self, n: int, fn: Callable[[int], tuple[bool, bool]]) -> bool:
        """runForAll: monotonic stops at the first blocker; burst runs slow-start batches
        (1, 2, 4, … ≤ 500) and stops after a batch with a failure."""
        if self.monotonic:
            for i in range(n):
                exit_, failed = fn(i)
                if exit_ or failed:
                    return True
            return False
        j, remaining = 0, n
        batch = min(remaining, 1)
        while batch > 0:
            failed_any = False
            for _ in range(batch):
                failed_any |= fn(j)[1]
                j += 1
            if failed_any:
                return True
            remaining -= batch
            batch = min(2 * batch, remaining, MAX_BATCH_SIZE)
        return False

    def run(self) -> Obj:
        sts = self.sts
        start, count = ident.start_ordinal(sts), ident.replicas_of(sts)
        replicas: list[Obj | None] = [None] * max(count, 0)
        condemned: list[Obj] = []
        for pod in self.pods:
            o = ident.ordinal_of(pod)
            if ident.in_ordinal_range(pod, sts):
                replicas[o - start] = pod
            elif o >= 0:
                condemned.append(pod)
        full: list[Obj] = [p if p is not None else self._new_versioned_pod(start + k) for k, p in enumerate(replicas)]
        condemned.sort(key=ident.ordinal_of, reverse=True)
        unavailable = [p for p in full if ident.is_unavailable(p, self.min_ready, self.now)]
        unavailable += [p for p in reversed(condemned) if ident.is_unavailable(p, self.min_ready, self.now)]
        first_unhealthy = unavailable[0] if unavailable else None

        def finish() -> Obj:
            return self._status(full + condemned)

        if meta(sts).get("deletionTimestamp"):
            return self._status(self.pods)
        if self._run_for_all(len(full), lambda i: self._process_replica(full, i)):
            return finish()

        def fix_claim(i: int) -> tuple[bool, bool]:
            if not self._claims_match(self.update_set, condemned[i]):
                self._update_claims_for_policy(self.update_set, condemned[i])
            return False, False

        if self._run_for_all(len(condemned), fix_claim):
            return finish()
        # scaling down takes precedence over updates; condemned pods go highest ordinal first
        if self._run_for_all(len(condemned), lambda i: self._process_condemned(condemned, i, first_unhealthy)):
            return finish()
        result = finish()
        strategy = spec(sts).get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return result
        return self._rolling_update(full, strategy, result)

    def _rolling_update(self, full: list[Obj], strategy: Mapping[str, Any], result: Obj) -> Obj:
        """updateStatefulSetAfterInvariantEstablished: delete up to maxUnavailable − unavailable
        pods at ordinals ≥ partition not at the update revision, highest first."""
        update_min, limit = 0, 1
        rolling = strategy.get("rollingUpdate")
        if isinstance(rolling, dict):
            update_min = int(rolling.get("partition") or 0)
            try:
                limit = max_unavailable(rolling.get("maxUnavailable"), len(full))
            except (TypeError, ValueError):
                self._fail(f"invalid maxUnavailable {rolling.get('maxUnavailable')!r}")
                return result
        unavailable = sum(ident.is_unavailable(p, self.min_ready, self.now) for p in full)
        if unavailable > limit:
            return result
        to_delete, update_name = limit - unavailable, str(meta(self.update).get("name"))
        target = len(full) - 1
        while target >= update_min and to_delete > 0:
            pod = full[target]
            if ident.pod_revision(pod) != update_name and not ident.is_terminating(pod):
                self._delete(pod, "update")
                to_delete -= 1
                result["currentReplicas"] = result.get("currentReplicas", 0) - 1
            target -= 1
        return result

    def _status(self, pods: Sequence[Mapping[str, Any]]) -> Obj:
        s: Obj = {"observedGeneration": int(meta(self.sts).get("generation") or 0)}
        s.update(_replica_status(pods, self.min_ready, self.now, str(meta(self.current).get("name")),
                                 str(meta(self.update).get("name"))))
        s["currentRevision"] = meta(self.current).get("name")
        s["updateRevision"] = meta(self.update).get("name")
        return s


def _complete_rolling_update(sts: Mapping[str, Any], s: Obj) -> None:
    """completeRollingUpdate: every replica updated and ready → the update becomes current."""
    n = ident.replicas_of(sts)
    if ((spec(sts).get("updateStrategy") or {}).get("type") == "RollingUpdate"
            and s["updatedReplicas"] == n and s["readyReplicas"] == n and s["replicas"] == n):
        s["currentReplicas"] = s["updatedReplicas"]
        s["currentRevision"] = s["updateRevision"]


_COMPARED = ("replicas", "currentReplicas", "readyReplicas", "updatedReplicas", "currentRevision",
             "availableReplicas", "updateRevision")


def _inconsistent(sts: Mapping[str, Any], s: Mapping[str, Any]) -> bool:
    """inconsistentStatus (collisionCount and conditions are not compared, as upstream)."""
    old = status(sts)
    if s["observedGeneration"] > int(old.get("observedGeneration") or 0):
        return True
    zero = {"currentRevision": "", "updateRevision": ""}
    return any((old.get(k) or zero.get(k, 0)) != (s.get(k) or zero.get(k, 0)) for k in _COMPARED)


def _wire_status(sts: Mapping[str, Any], s: Mapping[str, Any], collision: int) -> Obj:
    """The status as apps/v1 serialises it (omitempty fields dropped); conditions are kept."""
    out: Obj = {}
    if s["observedGeneration"]:
        out["observedGeneration"] = s["observedGeneration"]
    out["replicas"] = s["replicas"]
    for k in ("readyReplicas", "currentReplicas", "updatedReplicas", "currentRevision", "updateRevision"):
        if s.get(k):
            out[k] = s[k]
    out["collisionCount"] = collision
    out["availableReplicas"] = s["availableReplicas"]
    if status(sts).get("conditions"):
        out["conditions"] = copy.deepcopy(status(sts)["conditions"])
    return out


def plan(sts: Mapping[str, Any], pods: Sequence[Mapping[str, Any]], claims: Sequence[Mapping[str, Any]],
         revisions: Sequence[Mapping[str, Any]], now: datetime) -> StatefulSetActions:
    """One sync of `sts` (stateful_set.go sync + UpdateStatefulSet). `pods`, `claims` and
    `revisions` are every Pod, PVC and ControllerRevision of the set's namespace (the plan
    claims its own); `now` decides minReadySeconds availability. Inputs are not mutated."""
    sts = copy.deepcopy(dict(sts))
    out = StatefulSetActions()
    ns = meta(sts).get("namespace")
    owned_revs = list_revisions(sts, revisions)
    orphans = [r for r in owned_revs if controller_of(r) is None]
    if orphans and meta(sts).get("deletionTimestamp"):
        out.error = f"{ns}/{meta(sts).get('name')} has just been deleted"  # canAdoptFunc
        return out
    out.actions += [AdoptRevision(str(meta(r).get("name")), str(meta(r).get("uid") or "")) for r in orphans]
    claimed = claim_pods(sts, pods)
    out.actions += [AdoptPod(str(meta(p).get("name")), str(meta(p).get("uid") or "")) for p in claimed.adopt]
    out.actions += [ReleasePod(str(meta(p).get("name")), str(meta(p).get("uid") or "")) for p in claimed.release]
    taken = {str(meta(r).get("name")): r for r in revisions if meta(r).get("namespace") == ns}
    revs = resolve_revisions(sts, owned_revs, taken)
    if revs.create is not None:
        out.actions.append(CreateRevision(revs.create))
    if revs.bump is not None:
        out.actions.append(UpdateRevision(*revs.bump))
    claim_view = {str(meta(c).get("name")): dict(c) for c in claims if meta(c).get("namespace") == ns}
    sync = _Sync(sts, claimed.owned, claim_view, revs.current, revs.update, now)
    computed = sync.run()
    out.actions += sync.actions
    out.error = sync.error
    _complete_rolling_update(sts, computed)
    wire = _wire_status(sts, computed, revs.collision_count)
    out.status = wire
    if _inconsistent(sts, computed):
        out.actions.append(UpdateStatus(wire))
    live = [str(meta(revs.current).get("name")), str(meta(revs.update).get("name"))]
    out.actions += [DeleteRevision(n) for n in revisions_to_delete(sts, claimed.owned, owned_revs, live)]
    min_ready = int(spec(sts).get("minReadySeconds") or 0)
    if min_ready > 0 and computed["availableReplicas"] != ident.replicas_of(sts):
        out.requeue_after = float(min_ready)  # syncStatefulSet: enqueueSSAfter(minReadySeconds)
    return out
