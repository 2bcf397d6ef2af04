"""The StatefulSet controller's loop: caches from the watch, `plan.plan` per set, apply actions.

Owns the caches (sets, and per namespace the pods, PVCs and ControllerRevisions), the event
handlers mapping changes to set keys (stateful_set.go addPod/updatePod/deletePod,
enqueueStatefulSet, plus claim and revision triggers) and the executor of the planner's action
records in list order, with upstream's events (stateful_pod_control.go recordPodEvent and
recordClaimEvent). The planner decides everything else.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.api.selectors import from_label_selector
from kubeproc.client.local import LocalClient
from kubeproc.controllers.statefulset import actions as act
from kubeproc.controllers.statefulset.plan import plan
from kubeproc.controllers.tombstones import Tombstones
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
COMPONENT = "statefulset-controller"
_STS = resources.by_kind("apps", "StatefulSet")
_POD = resources.by_kind("", "Pod")
_PVC = resources.by_kind("", "PersistentVolumeClaim")
_REV = resources.by_kind("apps", "ControllerRevision")
Key = tuple[str, str]
Obj = dict[str, Any]


class Cache(dict[str, dict[str, Obj]]):
    """namespace -> name -> object, and the uids the watch saw deleted (never put back:
    controllers/tombstones.py)."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = Tombstones()


# writes skipped after the first failure; status and history truncation still go through
_ALWAYS = (act.UpdateStatus, act.DeleteRevision)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Mapping[str, Any]) -> Key:
    return str(_meta(obj).get("namespace") or ""), str(_meta(obj).get("name") or "")


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int(_meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _controller(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in _meta(obj).get("ownerReferences") or ():
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def _put(cache: Cache, obj: Obj) -> None:
    """Store `obj` unless the cache already holds a newer version (our own write results land
    here before their watch events, so an older event must not roll them back)."""
    if cache.gone.buried(obj):  # a write's result that came back after its deletion's event
        return
    ns, name = _key(obj)
    old = cache.get(ns, {}).get(name)
    if old is None or _rv(old) <= _rv(obj):  # resourceVersions grow across incarnations too
        cache.setdefault(ns, {})[name] = obj


def _drop(cache: Cache, obj: Mapping[str, Any]) -> None:
    cache.gone.bury(obj)
    ns, name = _key(obj)
    old = cache.get(ns, {}).get(name)
    if old is not None and _meta(old).get("uid") == _meta(obj).get("uid"):
        del cache[ns][name]


class _WriteFailed(errors.StatusError):
    """A sync whose writes failed (or whose plan reported an error): retried with backoff."""


class StatefulSetController:
    def __init__(self, client: LocalClient, recorder: EventRecorder, *, workers: int = 5,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client = client
        self.recorder = recorder
        self.workers = workers
        self.now = now
        self.queue = WorkQueue(base_delay=0.05, max_delay=30.0)
        self.sets = Cache()
        self.pods = Cache()
        self.claims = Cache()
        self.revisions = Cache()

    # ---- event handlers (stateful_set.go) ---------------------------------------------
    def _owning_set(self, obj: Mapping[str, Any]) -> Key | None:
        """resolveControllerRef: the cached set the controllerRef names (same uid)."""
        ref = _controller(obj)
        if ref is None or ref.get("kind") != "StatefulSet" or not str(ref.get("apiVersion", "")).startswith("apps/"):
            return None
        ns = str(_meta(obj).get("namespace") or "")
        sts = self.sets.get(ns, {}).get(str(ref.get("name") or ""))
        if sts is None or _meta(sts).get("uid") != ref.get("uid"):
            return None
        return ns, str(ref.get("name"))

    def _selecting_sets(self, pod: Mapping[str, Any]) -> list[Key]:
        """getPodStatefulSets: sets of the pod's namespace whose selector matches its labels."""
        ns = str(_meta(pod).get("namespace") or "")
        labels = _meta(pod).get("labels") or {}
        out = []
        for name, sts in self.sets.get(ns, {}).items():
            try:
                sel = from_label_selector((sts.get("spec") or {}).get("selector"))
            except (ValueError, errors.StatusError):
                continue
            if (sts.get("spec") or {}).get("selector") and sel.matches(labels):
                out.append((ns, name))
        return out

    def _observe_set(self, sts: Obj, deleted: bool) -> None:
        if deleted:
            _drop(self.sets, sts)
        else:
            _put(self.sets, sts)
        self.queue.add(_key(sts))

    def _observe_pod(self, pod: Obj, deleted: bool) -> None:
        ns, name = _key(pod)
        old = self.pods.get(ns, {}).get(name)
        if deleted:
            _drop(self.pods, pod)
        else:
            _put(self.pods, pod)
        owner = self._owning_set(pod)
        if owner is not None:
            self.queue.add(owner)
        elif not deleted:
            for key in self._selecting_sets(pod):  # an orphan: whoever may adopt it
                self.queue.add(key)
        if old is not None and _meta(old).get("uid") == _meta(pod).get("uid"):
            old_owner = self._owning_set(old)
            if old_owner is not None and old_owner != owner:
                self.queue.add(old_owner)  # released or re-owned: the old owner recounts
            if owner is None and _meta(old).get("labels") != _meta(pod).get("labels"):
                for key in self._selecting_sets(old):
                    self.queue.add(key)

    def _observe_claim(self, claim: Obj, deleted: bool) -> None:
        if not deleted:
            _put(self.claims, claim)
            return
        _drop(self.claims, claim)
        # a deleted claim of the set (or of one of its pods) may have to be recreated
        ns = str(_meta(claim).get("namespace") or "")
        for ref in _meta(claim).get("ownerReferences") or ():
            if not isinstance(ref, dict):
                continue
            if ref.get("kind") == "StatefulSet":
                sts = self.sets.get(ns, {}).get(str(ref.get("name") or ""))
                if sts is not None and _meta(sts).get("uid") == ref.get("uid"):
                    self.queue.add((ns, str(ref.get("name"))))
            elif ref.get("kind") == "Pod" and ref.get("apiVersion") == "v1":
                pod_name = str(ref.get("name") or "")
                pod = self.pods.get(ns, {}).get(pod_name)
                owner = self._owning_set(pod) if pod is not None else None
                if owner is None:
                    # the pod is gone already (the GC removing a scaled-down pod's stale claim
                    # unblocks the pod's re-creation): its set by the `<set>-<ordinal>` name
                    parent = pod_name.rsplit("-", 1)[0]
                    owner = (ns, parent) if parent in self.sets.get(ns, {}) else None
                if owner is not None:
                    self.queue.add(owner)

    def _observe_revision(self, rev: Obj, deleted: bool) -> None:
        if deleted:
            _drop(self.revisions, rev)
        else:
            _put(self.revisions, rev)
        owner = self._owning_set(rev)
        if owner is not None:
            self.queue.add(owner)

    # ---- loop -------------------------------------------------------------------------
    async def run(self) -> None:
        assert _STS and _POD and _PVC and _REV
        sets, rv = self.client.list(_STS)
        # the same snapshot: no await between the lists
        pods, claims, revs = self.client.list(_POD)[0], self.client.list(_PVC)[0], self.client.list(_REV)[0]
        for cache, items in ((self.pods, pods), (self.claims, claims), (self.revisions, revs)):
            for obj in items:
                _put(cache, obj)
        for sts in sets:
            self._observe_set(sts, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, COMPONENT, self.workers)

    async def _watch(self, rv: int) -> None:
        handlers = {("apps", "StatefulSet"): self._observe_set, ("", "Pod"): self._observe_pod,
                    ("", "PersistentVolumeClaim"): self._observe_claim,
                    ("apps", "ControllerRevision"): self._observe_revision}
        async for ev in self.client.watch_all(rv):
            handler = handlers.get((ev.resource.group, ev.resource.kind))
            if handler is not None:
                handler(ev.obj, ev.type == "DELETED")

    async def _reconcile(self, key: Hashable) -> None:
        """stateful_set.go sync: plan over the caches, apply, requeue as the plan asks."""
        assert isinstance(key, tuple)
        ns, name = key
        sts = self.sets.get(ns, {}).get(name)
        if sts is None:
            return
        result = plan(sts, list(self.pods.get(ns, {}).values()), list(self.claims.get(ns, {}).values()),
                      list(self.revisions.get(ns, {}).values()), self.now())
        failure = await self._apply(sts, result.actions)
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
        if failure or result.error:
            raise _WriteFailed(failure or result.error)

    # ---- the executor -----------------------------------------------------------------
    async def _apply(self, sts: Obj, todo: list[act.Action]) -> str:
        """Apply `todo` in order; after the first failure only status and revision deletions
        still run. Returns the first failure's message ("" when every write succeeded)."""
        failure = ""
        for action in todo:
            if failure and not isinstance(action, _ALWAYS):
                continue
            try:
                await self._do(sts, action)
            except errors.StatusError as exc:
                log.debug("statefulset %s/%s: %s failed: %s", *_key(sts), type(action).__name__, exc)
                failure = failure or f"{type(action).__name__}: {exc.message}"
        return failure

    async def _do(self, sts: Obj, a: act.Action) -> None:
        assert _STS and _POD and _PVC and _REV
        ns, set_name = _key(sts)
        if isinstance(a, act.CreateRevision):
            _put(self.revisions, await self.client.create(_REV, copy.deepcopy(a.revision)))
        elif isinstance(a, act.UpdateRevision):
            def renumber(rev: Obj) -> Obj:
                rev["revision"] = a.revision
                return rev
            _put(self.revisions, await self.client.mutate(_REV, ns, a.name, renumber))
        elif isinstance(a, act.CreateClaim):
            await self._create_claim(sts, a)
        elif isinstance(a, act.CreatePod):
            await self._create_pod(sts, a.pod)
        elif isinstance(a, act.UpdatePod):
            await self._update_pod(sts, a.pod)
        elif isinstance(a, act.DeletePod):
            await self._delete_pod(sts, a)
        elif isinstance(a, act.UpdateClaimOwnerRefs):
            def set_refs(claim: Obj) -> Obj:
                claim["metadata"]["ownerReferences"] = copy.deepcopy(a.owner_references)
                return claim
            try:
                _put(self.claims, await self.client.mutate(_PVC, ns, a.name, set_refs))
            except errors.NotFound:
                pass
        elif isinstance(a, (act.AdoptPod, act.AdoptRevision)):
            res = _POD if isinstance(a, act.AdoptPod) else _REV
            cache = self.pods if isinstance(a, act.AdoptPod) else self.revisions
            _put(cache, await self.client.mutate(res, ns, a.name, _adopt(sts, a.uid, res is _POD)))
        elif isinstance(a, act.ReleasePod):
            try:
                _put(self.pods, await self.client.mutate(_POD, ns, a.name, _release(sts, a.uid)))
            except errors.NotFound:
                pass
        elif isinstance(a, act.UpdateStatus):
            def set_status(obj: Obj) -> Obj:
                if _meta(obj).get("uid") != _meta(sts).get("uid"):
                    raise errors.NotFound(f"statefulset {ns}/{set_name} was replaced")
                obj["status"] = copy.deepcopy(a.status)
                return obj
            try:
                _put(self.sets, await self.client.mutate(_STS, ns, set_name, set_status, subresource="status"))
            except errors.NotFound:
                pass  # the set is gone: nothing left to report on
        elif isinstance(a, act.DeleteRevision):
            try:
                await self.client.delete(_REV, ns, a.name)
            except errors.NotFound:
                pass
        else:  # pragma: no cover - the planner emits only the records above
            raise errors.InternalError(f"unknown StatefulSet action {a!r}")

    async def _create_claim(self, sts: Obj, a: act.CreateClaim) -> None:
        """createPersistentVolumeClaims: a claim event (none for AlreadyExists); on failure
        CreateStatefulPod also reports the pod's create as failed."""
        assert _PVC
        claim_name = str(_meta(a.claim).get("name"))
        set_name = _key(sts)[1]
        try:
            _put(self.claims, await self.client.create(_PVC, copy.deepcopy(a.claim)))
        except errors.StatusError as exc:
            err = f"failed to create PVC {claim_name}: {exc.message}"
            if not isinstance(exc, errors.AlreadyExists):
                await self.recorder.warning(sts, "FailedCreate", f"create Claim {claim_name} for Pod {a.pod} "
                                            f"in StatefulSet {set_name} failed error: {exc.message}")
            await self.recorder.warning(sts, "FailedCreate",
                                        f"create Pod {a.pod} in StatefulSet {set_name} failed error: {err}")
            raise
        await self.recorder.normal(sts, "SuccessfulCreate",
                                   f"create Claim {claim_name} Pod {a.pod} in StatefulSet {set_name} success")

    async def _create_pod(self, sts: Obj, pod: Obj) -> None:
        """CreateStatefulPod's pod half: AlreadyExists is returned without an event."""
        assert _POD
        try:
            _put(self.pods, await self.client.create(_POD, copy.deepcopy(pod)))
        except errors.AlreadyExists:
            raise
        except errors.StatusError as exc:
            await self._pod_event(sts, "create", pod, exc)
            raise
        await self._pod_event(sts, "create", pod, None)

    async def _update_pod(self, sts: Obj, pod: Obj) -> None:
        """UpdateStatefulPod's write: the planned object with its resourceVersion (a Conflict
        fails this sync; the next one plans from the newer pod)."""
        assert _POD
        try:
            _put(self.pods, await self.client.update(_POD, copy.deepcopy(pod)))
        except errors.StatusError as exc:
            await self._pod_event(sts, "update", pod, exc)
            raise
        await self._pod_event(sts, "update", pod, None)

    async def _delete_pod(self, sts: Obj, a: act.DeletePod) -> None:
        """DeleteStatefulPod: with the observed uid as precondition; already gone is done."""
        assert _POD
        pod = {"metadata": {"name": a.name}}
        try:
            await self.client.delete(_POD, _key(sts)[0], a.name, uid=a.uid or None)
        except errors.NotFound:
            return
        except errors.StatusError as exc:
            await self._pod_event(sts, "delete", pod, exc)
            raise
        await self._pod_event(sts, "delete", pod, None)

    async def _pod_event(self, sts: Obj, verb: str, pod: Mapping[str, Any],
                         exc: errors.StatusError | None) -> None:
        """recordPodEvent: Successful<Verb> / Failed<Verb> on the set."""
        name, set_name = _meta(pod).get("name"), _key(sts)[1]
        if exc is None:
            await self.recorder.normal(sts, f"Successful{verb.title()}",
                                       f"{verb} Pod {name} in StatefulSet {set_name} successful")
        else:
            await self.recorder.warning(sts, f"Failed{verb.title()}",
                                        f"{verb} Pod {name} in StatefulSet {set_name} failed error: {exc.message}")


def _adopt(sts: Obj, uid: str, is_pod: bool) -> Callable[[Obj], Obj]:
    """controller_ref_manager.go AdoptPod/AdoptControllerRevision: the patch carries the
    observed uid as precondition and fails on an object that has a controller already."""
    def adopt(obj: Obj) -> Obj:
        md = obj["metadata"]
        name = md.get("name")
        if uid and md.get("uid") != uid:
            raise errors.Conflict(f"Precondition failed: UID in precondition: {uid}, "
                                  f"UID in object meta: {md.get('uid')}")
        if _controller(obj) is not None:
            raise errors.Conflict(f"{name} already has a controller")
        if is_pod and md.get("deletionTimestamp"):
            raise errors.Conflict(f"pod {name} is being deleted")
        md.setdefault("ownerReferences", []).append(
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": _meta(sts).get("name"),
             "uid": _meta(sts).get("uid"), "controller": True, "blockOwnerDeletion": True})
        return obj
    return adopt


def _release(sts: Obj, uid: str) -> Callable[[Obj], Obj]:
    """ReleasePod: drop the ownerReference naming the set's uid (uid precondition)."""
    def release(obj: Obj) -> Obj:
        md = obj["metadata"]
        if uid and md.get("uid") != uid:
            raise errors.NotFound(f"pod {md.get('name')} was replaced")
        md["ownerReferences"] = [r for r in md.get("ownerReferences") or ()
                                 if not (isinstance(r, dict) and r.get("uid") == _meta(sts).get("uid"))]
        if not md["ownerReferences"]:
            del md["ownerReferences"]
        return obj
    return release
