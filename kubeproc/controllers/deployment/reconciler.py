"""The Deployment controller's loop: caches, claiming, and applying `plan.sync_deployment`.

Caches Deployments, ReplicaSets and pods from the watch; on each key claims the ReplicaSets
(adopt matching orphans, release ours that stopped matching), groups their pods, runs the pure
plan and applies its writes in order, stopping at the first failure. Ports
deployment_controller.go (the event handlers, syncDeployment's I/O, getReplicaSetsForDeployment,
getPodMapForDeployment) and sync.go getNewReplicaSet's create-error handling (hash collisions).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources, selectors
from kubeproc.api.defaults import json_deepcopy
from kubeproc.client.local import LocalClient
from kubeproc.controllers import podcontrol
from kubeproc.controllers.deployment import plan
from kubeproc.controllers.deployment import replicas as u
from kubeproc.controllers.podindex import PodIndex
from kubeproc.controllers.tombstones import Tombstones
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_DEPLOY = resources.by_kind("apps", "Deployment")
_RS = resources.by_kind("apps", "ReplicaSet")
_POD = resources.by_kind("", "Pod")
COMPONENT = "deployment-controller"
Key = tuple[str, str]
Obj = dict[str, Any]


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", "") or "", meta.get("name", "")


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def selector_of(d: Mapping[str, Any]) -> selectors.LabelSelector:
    """metav1.LabelSelectorAsSelector; an invalid selector selects nothing."""
    sel = u.spec(d).get("selector")
    if not isinstance(sel, dict):
        return selectors.NOTHING
    try:
        return selectors.from_label_selector(sel)
    except Exception:  # an unknown operator
        return selectors.NOTHING


def _uid_guard(uid: str, change: Callable[[Obj], None]) -> Callable[[Obj], Obj]:
    def fn(latest: Obj) -> Obj:
        if latest["metadata"].get("uid") != uid:
            raise errors.NotFound(f"object with uid {uid} was replaced")
        change(latest)
        return latest
    return fn


class _PodMap(Mapping[str, list[Obj]]):
    """getPodMapForDeployment: the namespace's pods the selector matches, grouped by the uid
    of their controlling ReplicaSet (every claimed RS present, maybe with no pods). Built from
    the controller-UID index on first read: only a Recreate rollout reads it, and a sync never
    awaits between claiming and planning, so it sees the same snapshot as an eager build."""

    def __init__(self, index: PodIndex, namespace: str, uids: list[str],
                 sel: selectors.LabelSelector) -> None:
        self._index, self._ns, self._uids, self._sel = index, namespace, uids, sel
        self._map: dict[str, list[Obj]] | None = None

    def _built(self) -> dict[str, list[Obj]]:
        if self._map is None:
            self._map = {uid: [p for p in self._index.by_index(uid)
                               if _key(p)[0] == self._ns
                               and self._sel.matches((p.get("metadata") or {}).get("labels") or {})]
                         for uid in self._uids}
        return self._map

    def __getitem__(self, uid: str) -> list[Obj]:
        return self._built()[uid]

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())


class DeploymentController:
    def __init__(self, client: LocalClient, recorder: EventRecorder, *, workers: int = 5,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client, self.recorder, self.workers, self.now = client, recorder, workers, now
        self.queue = WorkQueue(base_delay=0.05, max_delay=30.0)
        self.deployments: dict[Key, Obj] = {}
        self.rss: dict[Key, Obj] = {}
        self.pods = PodIndex()  # by controller (ReplicaSet) uid, as upstream's pod informer
        self.gone = Tombstones()  # deleted deployments and ReplicaSets: never put back

    # ---- cache and event handlers ----------------------------------------------------------
    def _put(self, cache: dict[Key, Obj], obj: Obj) -> None:
        if self.gone.buried(obj):  # a write's result that came back after its deletion's event
            return
        key = _key(obj)
        old = cache.get(key)
        if old is None or old["metadata"].get("uid") != obj["metadata"].get("uid") or _rv(obj) >= _rv(old):
            cache[key] = obj

    def _owner(self, obj: Mapping[str, Any], kind: str, cache: dict[Key, Obj]) -> Key | None:
        """resolveControllerRef: the cached owner the controllerRef names (same uid)."""
        ref = podcontrol.controller_of(obj)
        if ref is None or ref.get("kind") != kind:
            return None
        key = (_key(obj)[0], ref.get("name", ""))
        owner = cache.get(key)
        return key if owner is not None and u.uid(owner) == ref.get("uid") else None

    def _matching(self, rs: Mapping[str, Any]) -> list[Key]:
        """getDeploymentsForReplicaSet: deployments in the namespace selecting the RS."""
        ns, labels = _key(rs)[0], (rs.get("metadata") or {}).get("labels") or {}
        return [k for k, d in self.deployments.items() if k[0] == ns
                and not selector_of(d).empty() and selector_of(d).matches(labels)]

    def _observe_rs(self, rs: Obj, deleted: bool) -> None:
        old = self.rss.get(_key(rs))
        if deleted:
            self.gone.bury(rs)
            if u.uid(self.rss.get(_key(rs)) or {}) == u.uid(rs):
                self.rss.pop(_key(rs), None)
        else:
            self._put(self.rss, rs)
        owner = self._owner(rs, "Deployment", self.deployments)
        if owner is not None:
            self.queue.add(owner)
        elif not deleted:
            for key in self._matching(rs):  # an orphan: whoever may adopt it
                self.queue.add(key)
        if old is not None:
            old_owner = self._owner(old, "Deployment", self.deployments)
            if old_owner is not None and old_owner != owner:
                self.queue.add(old_owner)

    def _observe_pod(self, pod: Obj, deleted: bool) -> None:
        ns, name = _key(pod)
        if deleted:
            self.pods.remove(ns, name)
        else:
            old = self.pods.get(ns, name)  # as _put: never go back to an older revision
            if old is None or old["metadata"].get("uid") != pod["metadata"].get("uid") \
                    or _rv(pod) >= _rv(old):
                self.pods.put(pod)
        # deletePod: a Recreate deployment waits for its old pods to be gone
        rs_key = self._owner(pod, "ReplicaSet", self.rss)
        if rs_key is None:
            return
        d_key = self._owner(self.rss[rs_key], "Deployment", self.deployments)
        if d_key is not None and not u.is_rolling(self.deployments[d_key]):
            self.queue.add(d_key)

    def _observe_deployment(self, d: Obj, deleted: bool) -> None:
        if deleted:
            self.gone.bury(d)
            if u.uid(self.deployments.get(_key(d)) or {}) == u.uid(d):
                self.deployments.pop(_key(d), None)
        else:
            self._put(self.deployments, d)
        self.queue.add(_key(d))

    # ---- loop ---------------------------------------------------------------------------------
    async def run(self) -> None:
        assert _DEPLOY is not None and _RS is not None and _POD is not None
        deployments, rv = self.client.list(_DEPLOY)
        for rs in self.client.list(_RS)[0]:  # same snapshot: no await in between
            self.rss[_key(rs)] = rs
        for pod in self.client.list(_POD)[0]:
            self.pods.put(pod)
        for d in deployments:
            self._observe_deployment(d, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, COMPONENT, self.workers)

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            kind, group = ev.resource.kind, ev.resource.group
            if kind == "Pod" and group == "":
                self._observe_pod(ev.obj, ev.type == "DELETED")
            elif kind == "ReplicaSet" and group == "apps":
                self._observe_rs(ev.obj, ev.type == "DELETED")
            elif kind == "Deployment" and group == "apps":
                self._observe_deployment(ev.obj, ev.type == "DELETED")

    async def _reconcile(self, key: Hashable) -> None:
        """deployment_controller.go syncDeployment."""
        assert isinstance(key, tuple)
        d = self.deployments.get(key)
        if d is None:
            return
        rss = await self._claim(d)
        uids = list(dict.fromkeys(u.uid(rs) for rs in rss))
        pods = _PodMap(self.pods, key[0], uids, selector_of(d))  # getPodMapForDeployment
        decided = plan.sync_deployment(d, rss, pods, self.now())
        for action in decided.actions:
            await self._apply(d, action)
        if decided.error is not None:
            raise errors.Conflict(decided.error)
        if decided.requeue_after is not None:
            self.queue.add_after(key, decided.requeue_after)

    # ---- claiming (controller_ref_manager.go ClaimReplicaSets) ---------------------------------
    async def _claim(self, d: Obj) -> list[Obj]:
        assert _RS is not None and _DEPLOY is not None
        ns = _key(d)[0]
        candidates = [rs for k, rs in self.rss.items() if k[0] == ns]
        claim = podcontrol.claim_pods(d, candidates, selector_of(d).matches)
        claimed = list(claim.owned)
        if claim.adopt:
            fresh = self.client.get(_DEPLOY, *_key(d))  # RecheckDeletionTimestamp
            if fresh is None or u.uid(fresh) != u.uid(d) or fresh["metadata"].get("deletionTimestamp"):
                return claimed
        ref = podcontrol.controller_ref(d, "apps/v1", "Deployment")
        for rs in claim.adopt:
            try:
                claimed.append(await self.client.mutate(
                    _RS, *_key(rs), _uid_guard(u.uid(rs), lambda o: o.update(podcontrol.adopted(o, ref)))))
            except (errors.NotFound, errors.Invalid):
                pass
        for rs in claim.release:
            try:
                await self.client.mutate(_RS, *_key(rs), _uid_guard(
                    u.uid(rs), lambda o: o.update(podcontrol.released(o, u.uid(d)))))
            except (errors.NotFound, errors.Invalid):
                pass
        return claimed

    # ---- applying the plan ------------------------------------------------------------------
    async def _apply(self, d: Obj, action: plan.Action) -> None:
        assert _RS is not None and _DEPLOY is not None
        if isinstance(action, plan.Event):
            await self.recorder.event(d, action.type, action.reason, action.message)
        elif isinstance(action, plan.CreateRS):
            await self._create(d, action.rs)
        elif isinstance(action, plan.UpdateRS):
            want = action.rs

            def scale(o: Obj) -> None:
                o.setdefault("spec", {})["replicas"] = want["spec"].get("replicas")
                if want["spec"].get("minReadySeconds"):
                    o["spec"]["minReadySeconds"] = want["spec"]["minReadySeconds"]
                else:  # omitempty: a zero is absent on the wire
                    o["spec"].pop("minReadySeconds", None)
                o["metadata"]["annotations"] = dict(u.annotations(want))
            self._put(self.rss, await self.client.mutate(_RS, *_key(want), _uid_guard(u.uid(want), scale)))
        elif isinstance(action, plan.DeleteRS):
            try:
                await self.client.delete(_RS, *_key(action.rs), uid=u.uid(action.rs) or None)
            except errors.NotFound:
                pass
        elif isinstance(action, plan.WriteRevision):
            rev = action.revision

            def annotate(o: Obj) -> None:
                o["metadata"]["annotations"] = {**(o["metadata"].get("annotations") or {}), u.REVISION: rev}
            self._put(self.deployments, await self.client.mutate(
                _DEPLOY, *_key(d), _uid_guard(u.uid(d), annotate)))
        elif isinstance(action, plan.WriteStatus):
            status = action.status
            self._put(self.deployments, await self.client.mutate(
                _DEPLOY, *_key(d), _uid_guard(u.uid(d), lambda o: o.__setitem__("status", json_deepcopy(status))),
                subresource="status"))

    async def _create(self, d: Obj, rs: Obj) -> None:
        """sync.go getNewReplicaSet's Create and its error handling."""
        assert _RS is not None and _DEPLOY is not None
        try:
            self._put(self.rss, await self.client.create(_RS, json_deepcopy(rs)))
            return
        except errors.AlreadyExists:
            existing = self.client.get(_RS, *_key(rs))
            ref = podcontrol.controller_of(existing or {})
            if existing is not None and ref is not None and ref.get("uid") == u.uid(d) and \
                    u.equal_ignore_hash(u.spec(d).get("template") or {}, u.spec(existing).get("template") or {}):
                self._put(self.rss, existing)  # ours: the cache was behind; sync again
                raise errors.Conflict(f"replica set {u.name(rs)} already exists") from None
            # a hash collision: bump status.collisionCount so the next hash differs
            def bump(o: Obj) -> None:
                status = o.setdefault("status", {})
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
            self._put(self.deployments, await self.client.mutate(
                _DEPLOY, *_key(d), _uid_guard(u.uid(d), bump), subresource="status"))
            raise
        except errors.StatusError as exc:
            if isinstance(exc, errors.Forbidden) and "because it is being terminated" in exc.message:
                raise
            msg = f'Failed to create new replica set "{u.name(rs)}": {exc.message}'
            if u.has_progress_deadline(d):
                cond = u.new_condition(plan.PROGRESSING, "False", "ReplicaSetCreateError", msg, self.now())

                def fail(o: Obj) -> None:
                    status = o.setdefault("status", {})
                    u.set_condition(status, cond)
                await self.client.mutate(_DEPLOY, *_key(d), _uid_guard(u.uid(d), fail),
                                         subresource="status")
            await self.recorder.event(d, "Warning", "ReplicaSetCreateError", msg)
            raise
