"""The ReplicaSet controller's loop (and the ReplicationController manager's: same code, `Kind`).

Caches owners and pods from the watch, tracks creation/deletion expectations, and on each key:
claims pods (adopt orphans, release pods that stopped matching), creates or deletes pods per
`plan.manage` (slow-start batches) and writes `plan.calculate_status` through the status
subresource. Ports pkg/controller/replicaset/replica_set.go (syncReplicaSet, manageReplicas,
the pod/RS event handlers) and controller_utils.go RealPodControl (events per create/delete).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources, selectors
from kubeproc.client.local import LocalClient
from kubeproc.controllers import podcontrol
from kubeproc.controllers.replicaset import plan
from kubeproc.controllers.replicaset.facts import PodFacts, claim_facts
from kubeproc.controllers.podindex import PodIndex
from kubeproc.controllers.replicaset.plan import REPLICA_SET, REPLICATION_CONTROLLER, Kind
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_POD = resources.by_kind("", "Pod")
# a pod update that only changes what the status counts (readiness, IPs, container states) is
# folded with the others of the next STATUS_BATCH seconds into one sync: each sync counts every
# pod of the owner, so a sync per update made a scale-up of n pods O(n²)
STATUS_BATCH = 0.1
Key = tuple[str, str]
Obj = dict[str, Any]


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", "") or "", meta.get("name", "")


def _skey(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def _terminating_namespace(exc: errors.StatusError) -> bool:
    # apierrors.HasStatusCause(err, NamespaceTerminatingCause); kubeproc's admission reports it
    # as a Forbidden with upstream's message
    return isinstance(exc, errors.Forbidden) and "because it is being terminated" in exc.message


class ReplicaSetController:
    def __init__(self, client: LocalClient, recorder: EventRecorder, kind: Kind = REPLICA_SET, *,
                 burst_replicas: int = plan.BURST_REPLICAS, workers: int = 5,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 monotonic: Callable[[], float] = time.monotonic,
                 status_batch: float = STATUS_BATCH) -> None:
        self.client = client
        self.recorder = recorder
        self.kind = kind
        self.resource = resources.by_kind(kind.group, kind.kind)
        self.burst = burst_replicas
        self.workers = workers
        self.now, self.monotonic = now, monotonic
        self.status_batch = status_batch
        self.queue = WorkQueue(base_delay=0.05, max_delay=30.0)
        self.expectations = podcontrol.ControllerExpectations()
        self.owners: dict[Key, Obj] = {}
        # the pod informer with upstream's PodControllerUIDIndex (replica_set.go NewBaseController)
        self.index: PodIndex[PodFacts] = PodIndex(PodFacts)
        self.pods: dict[str, dict[str, Obj]] = self.index.by_namespace  # namespace -> name -> pod
        self._selectors: dict[Key, tuple[Any, selectors.LabelSelector]] = {}

    # ---- cache and event handlers (replica_set.go add/update/delete Pod and RS) -------
    def _owner_of(self, pod: Mapping[str, Any]) -> Key | None:
        """resolveControllerRef: the cached owner the pod's controllerRef names (same uid)."""
        ref = podcontrol.controller_of(pod)
        if ref is None or ref.get("kind") != self.kind.kind:
            return None
        key = ((pod.get("metadata") or {}).get("namespace", ""), ref.get("name", ""))
        owner = self.owners.get(key)
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return key

    def _matching_owners(self, pod: Mapping[str, Any]) -> list[Key]:
        """getPodReplicaSets: owners in the pod's namespace whose selector matches it."""
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        return [k for k, o in self.owners.items() if k[0] == meta.get("namespace", "")
                and self.kind.selector(o).matches(labels)]

    def _observe_owner(self, obj: Obj, deleted: bool) -> None:
        key = _key(obj)
        if deleted:
            self.owners.pop(key, None)
            self._selectors.pop(key, None)
            self.expectations.delete(_skey(key))
        else:
            self.owners[key] = obj
        self.queue.add(key)

    def _observe_pod(self, pod: Obj, deleted: bool) -> None:
        ns, name = _key(pod)
        if deleted:
            old = self.index.remove(ns, name)
        else:
            old = self.index.put(pod)
        pod_key = f"{ns}/{name}"
        owner = self._owner_of(pod)
        gone = deleted or bool(pod["metadata"].get("deletionTimestamp"))
        if owner is not None:
            if gone:
                self.expectations.deletion_observed(_skey(owner), pod_key)
            elif old is None:
                self.expectations.creation_observed(_skey(owner))
            if old is not None and not gone and status_only(old, pod):
                self.queue.add_batched(owner, self.status_batch)
            else:
                self.queue.add(owner)
            self._requeue_when_available(owner, old, pod)
        elif not deleted:
            for key in self._matching_owners(pod):  # an orphan: whoever may adopt it
                self.queue.add(key)
        if old is not None:
            old_owner = self._owner_of(old)
            if old_owner is not None and old_owner != owner:
                self.queue.add(old_owner)  # released or re-owned: its old owner recounts
            if owner is None and (old.get("metadata") or {}).get("labels") != pod["metadata"].get("labels"):
                for key in self._matching_owners(old):
                    self.queue.add(key)

    def _requeue_when_available(self, owner: Key, old: Obj | None, pod: Obj) -> None:
        # updatePod: a pod turning ready is available only after minReadySeconds
        min_ready = int((self.owners[owner].get("spec") or {}).get("minReadySeconds") or 0)
        if min_ready and old is not None and not podcontrol.is_pod_ready(old) \
                and podcontrol.is_pod_ready(pod):
            self.queue.add_after(owner, float(min_ready) + 1.0)

    # ---- loop -----------------------------------------------------------------------
    async def run(self) -> None:
        assert _POD is not None and self.resource is not None
        owners, rv = self.client.list(self.resource)
        pods, _ = self.client.list(_POD)  # same snapshot: no await in between
        for pod in pods:
            self.index.put(pod)
        for owner in owners:
            self._observe_owner(owner, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, self.kind.component,
                           self.workers)

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind == "Pod":
                self._observe_pod(ev.obj, ev.type == "DELETED")
            elif ev.resource.kind == self.kind.kind and ev.resource.group == self.kind.group:
                self._observe_owner(ev.obj, ev.type == "DELETED")

    async def _reconcile(self, key: Hashable) -> None:
        """replica_set.go syncReplicaSet."""
        assert isinstance(key, tuple)
        obj = self.owners.get(key)
        if obj is None:
            self.expectations.delete(_skey(key))
            return
        needs_sync = self.expectations.satisfied(_skey(key), self.monotonic())
        uid, sel = obj["metadata"].get("uid", ""), self._selector(key, obj)
        # getRSPods (controller_utils.go FilterPodsByOwner with orphans): its own pods by the
        # controller-UID index, plus the namespace's orphans it may adopt
        facts = self.index.owned_and_orphans(key[0], uid)
        claimed = await self._claim(obj, [f for f in facts if f.active], sel)
        pods = [f.pod for f in claimed]
        manage_error: errors.StatusError | None = None
        if needs_sync and not obj["metadata"].get("deletionTimestamp"):
            manage_error = await self._manage(obj, pods)
        now = self.now()
        terminating = None
        if self.kind.kind == "ReplicaSet":
            # FilterClaimedPods over FilterTerminatingPods: ours by controllerRef and selector
            terminating = sum(1 for f in facts if f.terminating and f.controller_uid == uid
                              and f.matches(sel))
        status = plan.calculate_status(obj, pods, None if manage_error is None
                                       else manage_error.message, now, terminating,
                                       ready_conditions=[f.ready for f in claimed])
        update = plan.status_update(obj, status)
        if update is not None:
            obj = await self._write_status(obj, update)
        if manage_error is not None:
            raise manage_error
        delay = plan.min_ready_requeue(obj)
        if delay is not None:
            self.queue.add_after(key, delay)

    def _selector(self, key: Key, obj: Obj) -> selectors.LabelSelector:
        """Kind.selector, the same object while the owner's selector stays equal (every
        status write brings a new owner revision; pod facts memoize matches per selector)."""
        raw = (obj.get("spec") or {}).get("selector")
        cached = self._selectors.get(key)
        if cached is None or cached[0] != raw:
            cached = self._selectors[key] = (copy.deepcopy(raw), self.kind.selector(obj))
        return cached[1]

    # ---- claiming (controller_ref_manager.go) -----------------------------------------
    async def _claim(self, obj: Obj, active: list[PodFacts],
                     sel: selectors.LabelSelector) -> list[PodFacts]:
        assert _POD is not None
        claim = claim_facts(obj, active, sel)
        claimed = list(claim.owned)
        first_error: errors.StatusError | None = None
        uid = obj["metadata"]["uid"]
        if claim.adopt:
            # RecheckDeletionTimestamp: a fresh read before adopting anything (#42639)
            fresh = self.client.get(self.resource, *_key(obj))
            if fresh is None or fresh["metadata"].get("uid") != uid:
                raise errors.Conflict(f"original {self.kind.kind} {_skey(_key(obj))} is gone")
            if fresh["metadata"].get("deletionTimestamp"):
                raise errors.Conflict(f"{_skey(_key(obj))} has just been deleted at "
                                      f"{fresh['metadata']['deletionTimestamp']}")
        ref = podcontrol.controller_ref(obj, self.kind.api_version, self.kind.kind)
        for pod in claim.adopt:
            try:
                claimed.append(PodFacts(await self.client.mutate(
                    _POD, *_key(pod), _edit(pod, lambda p: podcontrol.adopted(p, ref)))))
            except errors.NotFound:
                pass  # gone meanwhile: ignore it
            except errors.StatusError as exc:
                first_error = first_error or exc
        for pod in claim.release:
            try:
                await self.client.mutate(_POD, *_key(pod),
                                         _edit(pod, lambda p: podcontrol.released(p, uid)))
            except (errors.NotFound, errors.Invalid):
                pass  # ReleasePod: gone, or being deleted
            except errors.StatusError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error  # syncReplicaSet returns claimPods' error before managing
        return claimed

    # ---- manageReplicas -------------------------------------------------------------
    def _related(self, obj: Obj) -> list[Obj]:
        """getIndirectlyRelatedPods: pods of every owner sharing this one's controller."""
        ref = podcontrol.controller_of(obj)
        ns = _key(obj)[0]
        same = [obj] if ref is None else [
            o for k, o in self.owners.items()
            if k[0] == ns and (podcontrol.controller_of(o) or {}).get("uid") == ref.get("uid")]
        seen: set[str] = set()
        out: list[Obj] = []
        for owner in same:
            sel = self.kind.selector(owner)
            for pod in self.pods.get(ns, {}).values():
                uid = pod["metadata"].get("uid", "")
                if uid not in seen and sel.matches(pod["metadata"].get("labels") or {}):
                    seen.add(uid)
                    out.append(pod)
        return out

    async def _manage(self, obj: Obj, pods: list[Obj]) -> errors.StatusError | None:
        skey = _skey(_key(obj))
        decision = plan.manage(obj, pods, self._related(obj) if len(pods) > plan.desired_replicas(obj)
                               else [], self.now(), self.burst)
        if decision.create:
            self.expectations.expect_creations(skey, decision.create, self.monotonic())
            successes, err = 0, None
            for size in podcontrol.slow_start_batches(decision.create):
                results = await asyncio.gather(*(self._create_pod(obj) for _ in range(size)),
                                               return_exceptions=True)
                failed = [r for r in results if isinstance(r, BaseException)]
                successes += size - len(failed)
                if failed:
                    err = failed[0]
                    break
            for _ in range(decision.create - successes):  # skipped: never to be observed
                self.expectations.creation_observed(skey)
            if successes < decision.create:
                log.debug("%s %s: slow-start failure, %d of %d pods created", self.kind.kind,
                          skey, successes, decision.create)
            if err is not None:
                if isinstance(err, errors.StatusError):
                    return err
                raise err
        elif decision.delete:
            keys = [_skey(_key(p)) for p in decision.delete]
            self.expectations.expect_deletions(skey, keys, self.monotonic())
            results = await asyncio.gather(*(self._delete_pod(obj, p) for p in decision.delete),
                                           return_exceptions=True)
            for pod_key, result in zip(keys, results):
                if isinstance(result, BaseException):
                    self.expectations.deletion_observed(skey, pod_key)
                    if not isinstance(result, errors.NotFound):
                        return result if isinstance(result, errors.StatusError) else \
                            errors.InternalError(str(result))
        return None

    async def _create_pod(self, obj: Obj) -> None:
        """RealPodControl.CreatePods: a Warning FailedCreate event per failed create (not for a
        terminating namespace, which counts as done), a Normal SuccessfulCreate per pod (events
        are emitted without waiting for their write, as client-go's recorder)."""
        assert _POD is not None
        template = (obj.get("spec") or {}).get("template") or {}
        ref = podcontrol.controller_ref(obj, self.kind.api_version, self.kind.kind)
        pod = podcontrol.pod_from_template(template, obj, ref)
        if not pod["metadata"].get("labels"):
            raise errors.Invalid("unable to create pods, no labels")
        try:
            created = await self.client.create(_POD, pod)
        except errors.StatusError as exc:
            if _terminating_namespace(exc):
                return
            self.recorder.emit(obj, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.recorder.emit(obj, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    async def _delete_pod(self, obj: Obj, pod: Obj) -> None:
        """RealPodControl.DeletePod."""
        assert _POD is not None
        ns, name = _key(pod)
        try:
            await self.client.delete(_POD, ns, name)
        except errors.NotFound:
            raise
        except errors.StatusError as exc:
            self.recorder.emit(obj, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            exc.message = f"unable to delete pods: {exc.message}"
            raise
        self.recorder.emit(obj, "Normal", "SuccessfulDelete", f"Deleted pod: {name}")

    async def _write_status(self, obj: Obj, status: dict[str, Any]) -> Obj:
        assert self.resource is not None
        uid = obj["metadata"]["uid"]

        def write(latest: Obj) -> Obj:
            if latest["metadata"].get("uid") != uid:
                raise errors.NotFound(f"{_skey(_key(obj))} was replaced")
            latest["status"] = status
            return latest
        return await self.client.mutate(self.resource, *_key(obj), write, subresource="status")


def status_only(old: Obj, pod: Obj) -> bool:
    """Whether a pod update leaves alone all that syncReplicaSet acts on (labels, controller
    reference, deletion, having ended: a pod that fails is replaced at once) and changes only
    what calculateStatus counts."""
    om, nm = old.get("metadata") or {}, pod.get("metadata") or {}
    if om.get("deletionTimestamp") or nm.get("deletionTimestamp"):
        return False
    if om.get("labels") != nm.get("labels") or om.get("ownerReferences") != nm.get("ownerReferences"):
        return False
    ended = ("Succeeded", "Failed")
    return (((old.get("status") or {}).get("phase") in ended)
            == ((pod.get("status") or {}).get("phase") in ended))


def _edit(pod: Obj, change: Callable[[Obj], Obj]) -> Callable[[Obj], Obj]:
    """A mutation of the pod with `pod`'s uid (the patches carry metadata.uid as precondition)."""
    uid = pod["metadata"].get("uid")

    def edit(latest: Obj) -> Obj:
        if latest["metadata"].get("uid") != uid:
            raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}, "
                                  f"UID in object meta: {latest['metadata'].get('uid')}")
        try:
            return change(latest)
        except ValueError as exc:
            raise errors.Invalid(str(exc)) from exc
    return edit


def replication_manager(client: LocalClient, recorder: EventRecorder,
                        **kw: Any) -> ReplicaSetController:
    """pkg/controller/replication NewReplicationManager: the same controller for v1 RCs."""
    return ReplicaSetController(client, recorder, REPLICATION_CONTROLLER, **kw)
