"""The default scheduler's loop: queue unscheduled pods, run `plan.schedule`, bind or report.

Keeps a cache of nodes and bound pods from the watch (the scheduler cache), "assumes" a pod on
its node as soon as the binding is written, and requeues unschedulable pods when a node changes
or a bound pod frees its resources, after a per-pod backoff (pkg/scheduler/internal/queue:
1s doubling to 10s; every 5 minutes regardless, podMaxInUnschedulablePodsDuration).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.scheduler.nodeinfo import NodeInfo
from kubeproc.controllers.scheduler.plan import Bind, Unschedulable, schedule
from kubeproc.controllers.tombstones import Tombstones
from kubeproc.controllers.volume.binder import claim_names
from kubeproc.controllers.volume.scheduling import claims_to_select, prefilter_reason, select_node
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_POD = resources.by_kind("", "Pod")
_NODE = resources.by_kind("", "Node")
_PVC = resources.by_kind("", "PersistentVolumeClaim")
PREBIND_TIMEOUT, PREBIND_POLL = 10.0, 0.005
_SC = resources.by_kind("storage.k8s.io", "StorageClass")
DEFAULT_SCHEDULER = "default-scheduler"
Key = tuple[str, str]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _signature(pod: Mapping[str, Any]) -> str:
    # eventhandlers.go isPodUpdated: an update that only touches status, resourceVersion,
    # generation or managedFields does not bring an unschedulable pod back.
    meta = {k: v for k, v in (pod.get("metadata") or {}).items()
            if k not in ("resourceVersion", "generation", "managedFields")}
    return json.dumps([meta, pod.get("spec")], sort_keys=True, default=str)


def _node_signature(node: Mapping[str, Any]) -> str:
    # eventhandlers.go nodeSchedulingPropertiesChange: labels, taints, unschedulable,
    # allocatable and condition statuses matter; heartbeat-only status posts do not.
    status = node.get("status") or {}
    conds = sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or ())
    return json.dumps([(node.get("metadata") or {}).get("labels"), node.get("spec"),
                       status.get("allocatable"), conds], sort_keys=True, default=str)


def update_condition(status: dict[str, Any], cond: dict[str, Any], now: str) -> bool:
    """pkg/api/v1/pod UpdatePodCondition: set `cond`, keeping its transition time when the
    status is unchanged; returns whether anything changed. Mutates `status`."""
    new = {"type": cond["type"], "status": cond["status"], "lastProbeTime": None,
           "lastTransitionTime": now}
    for k in ("reason", "message"):
        if cond.get(k):
            new[k] = cond[k]
    conditions = status.setdefault("conditions", [])
    for i, old in enumerate(conditions):
        if old.get("type") != cond["type"]:
            continue
        if old.get("status") == new["status"]:
            new["lastTransitionTime"] = old.get("lastTransitionTime")
        same = all(old.get(k) == new.get(k) for k in
                   ("status", "reason", "message", "lastProbeTime", "lastTransitionTime"))
        conditions[i] = new
        return not same
    conditions.append(new)
    return True


class Scheduler:
    def __init__(self, client: LocalClient, recorder: EventRecorder,
                 scheduler_name: str = DEFAULT_SCHEDULER, *, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, unschedulable_flush: float = 300.0) -> None:
        self.client = client
        self.recorder = recorder
        self.name = scheduler_name
        self.initial_backoff, self.max_backoff = initial_backoff, max_backoff
        self.unschedulable_flush = unschedulable_flush
        self.queue = WorkQueue(base_delay=0.05, max_delay=max_backoff)  # API-error retries
        self.nodes: dict[str, dict[str, Any]] = {}
        self.bound: dict[Key, dict[str, Any]] = {}  # pods with spec.nodeName (incl. assumed)
        # node name -> the aggregates of `bound` there (kept in step by _set_bound; nodes
        # where no pod holds resources have no entry)
        self.infos: dict[str, NodeInfo] = {}
        self.pending: dict[Key, str] = {}  # ours to schedule -> signature when last tried
        self._signed_rv: dict[Key, str] = {}  # resourceVersion that pending[key] was taken at
        self._attempts: dict[Key, tuple[int, float]] = {}  # failures, monotonic time of last
        self.gone = Tombstones()  # deleted pods: a binding's result never puts one back
        self._flush: dict[Key, asyncio.TimerHandle] = {}  # unschedulable pods' periodic retry
        # assumed pods whose binding cycle runs (schedule_one.go: the scheduling cycle assumes
        # the pod and goes on with the next one while `go bindingCycle` writes the binding)
        self._binding: dict[Key, asyncio.Task] = {}

    # ---- which pods are ours ---------------------------------------------------------
    def responsible(self, pod: Mapping[str, Any]) -> bool:
        """Unassigned, ours, alive, not gated (eventhandlers.go + SchedulingGates PreEnqueue)."""
        spec = pod.get("spec") or {}
        return (not spec.get("nodeName")
                and (spec.get("schedulerName") or DEFAULT_SCHEDULER) == self.name
                and not (pod.get("metadata") or {}).get("deletionTimestamp")
                and not _terminal(pod) and not spec.get("schedulingGates"))

    def _backoff_left(self, key: Key) -> float:
        # scheduling_queue.go calculateBackoffDuration: initial * 2^(attempts-1), capped
        attempts, last = self._attempts.get(key, (0, 0.0))
        if not attempts:
            return 0.0
        backoff = min(self.initial_backoff * 2 ** (attempts - 1), self.max_backoff)
        return max(0.0, last + backoff - time.monotonic())

    def _enqueue(self, key: Key) -> None:
        delay = self._backoff_left(key)
        if delay > 0:
            self.queue.add_after(key, delay)
        else:
            self.queue.add(key)

    def _requeue_pending(self) -> None:
        # MoveAllToActiveOrBackoffQueue: a cluster change may make any pending pod fit
        for key in list(self.pending):
            self._enqueue(key)

    # ---- cache -----------------------------------------------------------------------
    def _set_bound(self, key: Key, pod: dict[str, Any] | None) -> None:
        """Record a bound pod (None: forget it) in `bound` and in its node's NodeInfo, moving
        it off the node it was on before (cache.go AddPod/UpdatePod/RemovePod/AssumePod; an
        info is made on demand, before its Node is seen)."""
        old = self.bound.pop(key, None) if pod is None else self.bound.get(key)
        old_node = ((old.get("spec") or {}).get("nodeName") or "") if old is not None else ""
        new_node = ((pod.get("spec") or {}).get("nodeName") or "") if pod is not None else ""
        if old_node and old_node != new_node:
            self._node_info_op(old_node, key, None)
        if pod is not None:
            self.bound[key] = pod
            if new_node:
                self._node_info_op(new_node, key, pod)

    def _node_info_op(self, node: str, key: Key, pod: dict[str, Any] | None) -> None:
        info = self.infos.get(node)
        if info is None:
            if pod is None:
                return
            info = self.infos[node] = NodeInfo(count_terminating=True)
        if pod is None:
            info.remove(key)
        else:
            info.update(key, pod)  # a terminal pod is dropped from the info here
        if not len(info):
            del self.infos[node]

    def _pending_signature(self, key: Key, pod: Mapping[str, Any]) -> str:
        # The same resourceVersion means the same object: reuse the signature taken when the
        # watch delivered it instead of serialising metadata and spec again.
        rv = (pod.get("metadata") or {}).get("resourceVersion")
        if rv and self._signed_rv.get(key) == rv and key in self.pending:
            return self.pending[key]
        self._signed_rv[key] = rv or ""
        return _signature(pod)

    def _observe_node(self, node: dict[str, Any], deleted: bool) -> None:
        name = node["metadata"]["name"]
        old = self.nodes.get(name)
        if deleted:
            self.nodes.pop(name, None)
            return
        if old is not None and _rv(old) >= _rv(node):
            return
        self.nodes[name] = node
        if old is None or _node_signature(old) != _node_signature(node):
            self._requeue_pending()

    def _observe_pod(self, pod: dict[str, Any], deleted: bool) -> None:
        key = _key(pod)
        if deleted:
            self.gone.bury(pod)
            self.pending.pop(key, None)
            self._signed_rv.pop(key, None)
            self._attempts.pop(key, None)
            if key in self.bound:
                self._set_bound(key, None)
                self._requeue_pending()  # its resources are free again
            return
        old = self.bound.get(key)
        if old is not None and _rv(old) > _rv(pod):
            return  # older than the pod we assumed after binding it
        if key in self._binding and not (pod.get("spec") or {}).get("nodeName"):
            return  # assumed, its binding cycle decides (or forgets the assumption and retries)
        if (pod.get("spec") or {}).get("nodeName"):
            self.pending.pop(key, None)
            self._signed_rv.pop(key, None)
            self._attempts.pop(key, None)
            self._set_bound(key, pod)
            if _terminal(pod) and (old is None or not _terminal(old)):
                self._requeue_pending()
            return
        self._set_bound(key, None)
        if not self.responsible(pod):
            self.pending.pop(key, None)
            return
        sig = self._pending_signature(key, pod)
        if self.pending.get(key) != sig:  # new, or changed beyond status since last try
            self.pending[key] = sig
            self._enqueue(key)

    # ---- loop ------------------------------------------------------------------------
    async def run(self) -> None:
        assert _POD is not None and _NODE is not None
        nodes, rv = self.client.list(_NODE)
        pods, _ = self.client.list(_POD)  # same snapshot: no await in between
        for node in nodes:
            self._observe_node(node, False)
        for pod in pods:
            self._observe_pod(pod, False)
        try:
            await runner.serve(self._watch(rv), self.queue, self._reconcile, self.name)
        finally:
            for handle in self._flush.values():
                handle.cancel()
            self._flush.clear()
            for task in self._binding.values():
                task.cancel()

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind == "Node":
                self._observe_node(ev.obj, ev.type == "DELETED")
            elif ev.resource.kind == "Pod":
                self._observe_pod(ev.obj, ev.type == "DELETED")
            elif ev.resource.kind in ("PersistentVolumeClaim", "StorageClass"):
                self._requeue_pending()  # a claim a pod waits for may now be usable

    async def _reconcile(self, key: Hashable) -> None:
        assert _POD is not None and isinstance(key, tuple)
        ns, name = key
        if key in self._binding:
            return  # assumed and being bound
        pod = self.client.get(_POD, ns, name)
        if pod is None or not self.responsible(pod):
            self.pending.pop(key, None)
            self._attempts.pop(key, None)
            return
        self.pending[key] = self._pending_signature(key, pod)
        nodes = [self.nodes[n] for n in sorted(self.nodes)]
        claims, classes = self._claims_of(pod)
        reason = prefilter_reason(pod, claims, classes)
        if reason:  # volumebinding PreFilter: UnschedulableAndUnresolvable on every node
            n = len(nodes)
            result: Bind | Unschedulable = Unschedulable(
                f"0/{n} nodes are available: {reason}. preemption: 0/{n} nodes are available: "
                f"{n} Preemption is not helpful for scheduling.")
        else:
            result = schedule(pod, nodes, count_terminating=True, infos=self.infos)
        if isinstance(result, Bind):
            # assumePod: later pods see its requests on the node at once; the binding is written
            # by its own task while the next pod is scheduled
            assumed = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": result.node}}
            self._set_bound(key, assumed)
            self.pending.pop(key, None)
            task = asyncio.get_running_loop().create_task(
                self._binding_cycle(key, pod, assumed, result.node, claims, classes))
            self._binding[key] = task
        else:
            await self._unschedulable(pod, result)

    async def _binding_cycle(self, key: Key, pod: dict[str, Any], assumed: dict[str, Any], node: str,
                             claims: dict[tuple[str, str], Any], classes: dict[str, Any]) -> None:
        """schedule_one.go bindingCycle: PreBind (volumes), Bind; when the binding fails the
        assumed pod is forgotten and the pod, if still ours to schedule (e.g. replaced by a new
        one of the same name meanwhile), goes back to the queue (handleBindingCycleError)."""
        try:
            await self._select_volume_node(pod, node, claims, classes)
            if await self._bind(pod, node):
                return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # an API error
            log.info("binding %s/%s to %s failed: %s", key[0], key[1], node, exc)
        finally:
            self._binding.pop(key, None)
        self._forget_assumed(key, assumed)
        # every failed cycle is an attempt: the retry waits out the pod's backoff (the queue's
        # Pop counts attempts, handleSchedulingFailure requeues to the backoff queue). A pod
        # the watch still shows but the store has deleted (its deletion not yet committed)
        # was otherwise retried at once, round after round, starving the event loop
        attempts, _ = self._attempts.get(key, (0, 0.0))
        self._attempts[key] = (attempts + 1, time.monotonic())
        current = self.client.get(_POD, *key)
        if current is not None and self.responsible(current):
            self.pending[key] = self._pending_signature(key, current)
            self._enqueue(key)

    def _forget_assumed(self, key: Key, assumed: dict[str, Any]) -> None:
        """cache.go ForgetPod: drop the assumption unless the watch has replaced it since."""
        if self.bound.get(key) is assumed:
            self._set_bound(key, None)
            self._requeue_pending()  # the resources it held are free again

    def _claims_of(self, pod: dict[str, Any]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
        assert _PVC is not None and _SC is not None
        names = claim_names(pod)
        if not names:
            return {}, {}
        ns = pod["metadata"].get("namespace", "")
        claims = {(ns, n): c for n in names if (c := self.client.get(_PVC, ns, n)) is not None}
        return claims, {c["metadata"]["name"]: c for c in self.client.list(_SC)[0]}

    async def _select_volume_node(self, pod: dict[str, Any], node: str,
                                  claims: dict[tuple[str, str], Any], classes: dict[str, Any]) -> None:
        """volumebinding PreBind: delayed-binding claims learn the chosen node before the pod
        binds (the volume controller then provisions there)."""
        assert _PVC is not None
        ns = pod["metadata"].get("namespace", "")
        selected = claims_to_select(pod, claims, classes, node)
        for name in selected:
            await self.client.mutate(_PVC, ns, name, lambda obj: select_node(obj, node))
        # binder.go BindPodVolumes/checkBindings: the pod binds once its claims are bound, so
        # the kubelet never meets an unbound claim (upstream's bindTimeout is 10 min; here the
        # provisioner is in process and quick: after the deadline the pod binds anyway)
        deadline = time.monotonic() + PREBIND_TIMEOUT
        while selected and time.monotonic() < deadline:
            selected = [n for n in selected if ((self.client.get(_PVC, ns, n) or {}).get("status")
                                                or {}).get("phase") != "Bound"]
            if selected:
                await asyncio.sleep(PREBIND_POLL)

    async def _bind(self, pod: dict[str, Any], node: str) -> bool:
        assert _POD is not None
        ns, name = _key(pod)
        uid = pod["metadata"].get("uid")

        def bind(old: dict[str, Any]) -> dict[str, Any]:
            # storage.go setPodHostAndAnnotations (with the Binding's uid precondition)
            if uid and old["metadata"].get("uid") != uid:
                raise errors.Conflict.of("pods/binding", "", name,
                                         "Precondition failed: UID in precondition does not match")
            if old["metadata"].get("deletionTimestamp"):
                raise errors.Conflict.of("pods/binding", "", name,
                                         f"pod {name} is being deleted, cannot be assigned to a host")
            current = (old.get("spec") or {}).get("nodeName")
            if current:
                raise errors.Conflict.of("pods/binding", "", name,
                                         f"pod {name} is already assigned to node \"{current}\"")
            old.setdefault("spec", {})["nodeName"] = node
            # storage.go assignPod: the same update marks PodScheduled=True (one write, one
            # watch event, as a Binding through the API: registry/subresources.py bind)
            update_condition(old.setdefault("status", {}),
                             {"type": "PodScheduled", "status": "True"}, _now())
            return old
        try:
            bound = await self.client.mutate(_POD, ns, name, bind, subresource="binding")
        except (errors.Conflict, errors.NotFound) as exc:
            log.info("binding %s/%s to %s abandoned: %s", ns, name, node, exc)
            self.pending.pop((ns, name), None)
            return False
        if not self.gone.buried(bound):  # its deletion's event may have come first
            self._set_bound((ns, name), bound)
        self.pending.pop((ns, name), None)
        self._signed_rv.pop((ns, name), None)
        self._attempts.pop((ns, name), None)
        self.recorder.emit(pod, "Normal", "Scheduled", f"Successfully assigned {ns}/{name} to {node}",
                           action="Binding")  # not waited for, as the framework's recorder
        return True

    async def _unschedulable(self, pod: dict[str, Any], result: Unschedulable) -> None:
        assert _POD is not None
        ns, name = _key(pod)
        uid = pod["metadata"].get("uid")
        attempts, _ = self._attempts.get((ns, name), (0, 0.0))
        self._attempts[(ns, name)] = (attempts + 1, time.monotonic())
        # schedule_one.go handleSchedulingFailure: the event, then the condition (if changed)
        self.recorder.emit(pod, "Warning", "FailedScheduling", result.message, action="Scheduling")

        def condition(old: dict[str, Any]) -> dict[str, Any]:
            if old["metadata"].get("uid") != uid or (old.get("spec") or {}).get("nodeName"):
                return old  # replaced or bound meanwhile: nothing to report
            update_condition(old.setdefault("status", {}), {
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": result.message}, _now())
            return old
        try:
            await self.client.mutate(_POD, ns, name, condition, subresource="status")
        except errors.NotFound:
            return
        # unschedulablePods: flushed back to the queue after a while even without events
        # (one timer per pod, however often cluster events retry it meanwhile)
        if (ns, name) not in self._flush:
            self._flush[(ns, name)] = asyncio.get_running_loop().call_later(
                self.unschedulable_flush, self._flushed, (ns, name))

    def _flushed(self, key: Key) -> None:
        self._flush.pop(key, None)
        if key in self.pending:
            self.queue.add(key)
