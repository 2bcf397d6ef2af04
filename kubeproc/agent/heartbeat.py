"""The agent's Node registration and heartbeats: the Node object, its status, its Lease.

`NodeHeartbeat.register()` creates or adopts the Node (kubelet_node_status.go
registerWithAPIServer); `run()` renews the kube-node-lease Lease every `renew_every` seconds
(pkg/kubelet/nodelease) and posts the Node status when it changed or every `status_every`
seconds (updateNodeStatus + nodeStatusReportFrequency). It also keeps the condition NoSchedule
taints in step with the conditions, which upstream is the node lifecycle controller's job.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from kubeproc.agent.node import (MAX_PODS, LEASE_NAMESPACE, MachineInfo, lease_object, machine_info,
                                 micro_time, node_object, rfc3339, status_changed)
from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.machinery.events import EventRecorder

log = logging.getLogger(__name__)
_NODE = resources.by_kind("", "Node")
_LEASE = resources.by_kind("coordination.k8s.io", "Lease")
REGISTER_MAX_BACKOFF = 7.0  # kubelet registerWithAPIServer: 100ms doubling up to 7s

# node_lifecycle_controller.go nodeConditionToTaintKeyStatusMap (doNoScheduleTaintingPass)
CONDITION_TAINTS = {
    ("Ready", "False"): "node.kubernetes.io/not-ready",
    ("Ready", "Unknown"): "node.kubernetes.io/unreachable",
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
}
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
_MANAGED_TAINTS = set(CONDITION_TAINTS.values()) | {UNSCHEDULABLE_TAINT}

# nodestatus/setters.go: the event each condition status records when it is new or moves
CONDITION_EVENTS = {
    ("MemoryPressure", "False"): "NodeHasSufficientMemory",
    ("MemoryPressure", "True"): "NodeHasInsufficientMemory",
    ("DiskPressure", "False"): "NodeHasNoDiskPressure",
    ("DiskPressure", "True"): "NodeHasDiskPressure",
    ("PIDPressure", "False"): "NodeHasSufficientPID",
    ("PIDPressure", "True"): "NodeHasInsufficientPID",
    ("Ready", "True"): "NodeReady",
    ("Ready", "False"): "NodeNotReady",
}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def condition_taints(node: dict[str, Any], now: datetime) -> list[dict[str, Any]] | None:
    """The Node's spec.taints with the condition/unschedulable NoSchedule taints reconciled,
    or None when they already match (doNoScheduleTaintingPass). Does not mutate `node`."""
    want: set[str] = set()
    for c in (node.get("status") or {}).get("conditions") or ():
        key = CONDITION_TAINTS.get((c.get("type"), c.get("status")))
        if key:
            want.add(key)
    if (node.get("spec") or {}).get("unschedulable"):
        want.add(UNSCHEDULABLE_TAINT)
    taints = list((node.get("spec") or {}).get("taints") or ())
    have = {t.get("key") for t in taints
            if t.get("effect") == "NoSchedule" and t.get("key") in _MANAGED_TAINTS}
    if have == want:
        return None
    kept = [t for t in taints if not (t.get("effect") == "NoSchedule"
                                      and t.get("key") in have - want)]
    # SwapNodeControllerTaint stamps the taints it adds with timeAdded
    kept += [{"key": k, "effect": "NoSchedule", "timeAdded": rfc3339(now)}
             for k in sorted(want - have)]
    return kept


class NodeHeartbeat:
    def __init__(self, client: LocalClient, node_name: str, data_dir: str, pod_cidr: str,
                 host_ip: str, kubelet_version: str, lease_seconds: int = 40,
                 renew_every: float = 10.0, status_every: float = 300.0, *,
                 recorder: EventRecorder | None = None,
                 machine: Callable[[], MachineInfo] | None = None,
                 clock: Callable[[], datetime] = _utcnow, max_pods: int = MAX_PODS) -> None:
        self.client = client
        self.max_pods = max_pods
        self.node_name = node_name
        self.pod_cidr = pod_cidr
        self.host_ip = host_ip
        self.kubelet_version = kubelet_version
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every
        self.status_every = status_every
        self.recorder = recorder
        self.machine = machine or (lambda: machine_info(data_dir))
        self.clock = clock
        self.node_uid = ""
        self._last_status_post = float("-inf")  # monotonic time of the last status write

    def _build(self, previous: dict[str, Any] | None) -> dict[str, Any]:
        return node_object(self.node_name, self.machine(), pod_cidr=self.pod_cidr,
                           addresses=[self.host_ip], kubelet_version=self.kubelet_version,
                           max_pods=self.max_pods,
                           now=self.clock(), previous=previous)

    # ---- registration ------------------------------------------------------------------
    async def register(self) -> dict[str, Any]:
        """Create the Node, or adopt the one of that name (keeping its uid); retried until it
        succeeds (the kubelet never gives up registering). Returns the stored Node."""
        delay = 0.1
        while True:
            try:
                node = await self._register_once()
                break
            except Exception as exc:  # the API is local; anything here is worth a retry
                log.warning("registering node %s failed (retrying in %.1fs): %r",
                            self.node_name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, REGISTER_MAX_BACKOFF)
        if self.recorder is not None:
            await self.recorder.normal(self._ref(), "Starting", "Starting kubelet.")
            await self.recorder.normal(self._ref(), "NodeAllocatableEnforced",
                                       "Updated Node Allocatable limit across pods")
        try:
            return await self.post_status(force=True) or node
        except Exception as exc:  # run() posts again on its next tick
            log.warning("posting node %s status failed: %r", self.node_name, exc)
            return node

    async def _register_once(self) -> dict[str, Any]:
        assert _NODE is not None
        existing = self.client.get(_NODE, "", self.node_name)
        if existing is None:
            try:
                # the registry may keep the object it is given: hand it a fresh one
                existing = await self.client.create(_NODE, self._build(None))
                self._created_now = True  # its conditions are news: record their events
                log.info("registered node %s", self.node_name)
            except errors.AlreadyExists:
                existing = self.client.get(_NODE, "", self.node_name)
                if existing is None:
                    raise
        else:
            # tryRegisterWithAPIServer on an existing Node: reconcile the default labels
            # (node_object keeps users' labels, taints and podCIDR) and keep its uid
            want = self._build(existing)
            if (want["metadata"].get("labels") != existing["metadata"].get("labels")
                    or want.get("spec") != existing.get("spec")):
                def relabel(old: dict[str, Any]) -> dict[str, Any]:
                    new = self._build(old)
                    old["metadata"]["labels"] = new["metadata"]["labels"]
                    old["spec"] = new["spec"]
                    return old
                existing = await self.client.mutate(_NODE, "", self.node_name, relabel)
            log.info("node %s already registered; adopting it", self.node_name)
        self.node_uid = existing["metadata"]["uid"]
        return existing

    def _ref(self) -> dict[str, Any]:
        # the kubelet's nodeRef uses the node name as uid
        return {"kind": "Node", "name": self.node_name, "uid": self.node_name,
                "apiVersion": "v1"}

    # ---- status ------------------------------------------------------------------------
    async def post_status(self, force: bool = False) -> dict[str, Any] | None:
        """Post the Node status if it changed (or `force`, or status_every elapsed); returns
        the stored Node when written. Re-registers a Node deleted behind our back."""
        assert _NODE is not None
        current = self.client.get(_NODE, "", self.node_name)
        if current is None:
            log.warning("node %s is gone; registering it again", self.node_name)
            await self._register_once()
            current = self.client.get(_NODE, "", self.node_name)
            force = True
            if current is None:
                return None
        due = time.monotonic() - self._last_status_post >= self.status_every
        if not (force or due or status_changed(current, self._build(current))):
            return None
        before = (current.get("status") or {}).get("conditions") or ()
        if getattr(self, "_created_now", False):
            self._created_now, before = False, ()

        def update(old: dict[str, Any]) -> dict[str, Any]:
            old["status"] = self._build(old)["status"]
            return old
        node = await self.client.mutate(_NODE, "", self.node_name, update, subresource="status")
        self._last_status_post = time.monotonic()
        self.node_uid = node["metadata"]["uid"]
        await self._record_transitions(before, (node.get("status") or {}).get("conditions") or ())
        return await self._reconcile_taints(node)

    async def _record_transitions(self, before: Any, after: Any) -> None:
        if self.recorder is None:
            return
        old = {c.get("type"): c.get("status") for c in before}
        for c in after:
            ctype, status = c.get("type"), c.get("status")
            reason = CONDITION_EVENTS.get((ctype, status))
            if reason and old.get(ctype) != status:
                await self.recorder.normal(self._ref(), reason,
                                           f"Node {self.node_name} status is now: {reason}")

    async def _reconcile_taints(self, node: dict[str, Any]) -> dict[str, Any]:
        assert _NODE is not None
        if condition_taints(node, self.clock()) is None:
            return node

        def swap(old: dict[str, Any]) -> dict[str, Any]:
            taints = condition_taints(old, self.clock())
            if taints:
                old.setdefault("spec", {})["taints"] = taints
            elif taints is not None:
                old.setdefault("spec", {}).pop("taints", None)  # omitempty: no empty list
            return old
        return await self.client.mutate(_NODE, "", self.node_name, swap)

    # ---- lease -------------------------------------------------------------------------
    async def renew_lease(self) -> dict[str, Any]:
        """Create or renew kube-node-lease/<node> (nodelease controller sync)."""
        assert _LEASE is not None
        now = self.clock()
        want = lease_object(self.node_name, self.node_uid, now, self.lease_seconds)

        def renew(old: dict[str, Any]) -> dict[str, Any]:
            spec = old.setdefault("spec", {})
            spec["holderIdentity"] = self.node_name
            spec["leaseDurationSeconds"] = self.lease_seconds
            spec["renewTime"] = micro_time(now)
            # setNodeOwnerFunc: owned by the Node once its uid is known
            if self.node_uid and not old["metadata"].get("ownerReferences"):
                old["metadata"]["ownerReferences"] = want["metadata"]["ownerReferences"]
            return old
        try:
            return await self.client.mutate(_LEASE, LEASE_NAMESPACE, self.node_name, renew)
        except errors.NotFound:
            if not self.node_uid:
                del want["metadata"]["ownerReferences"]
            return await self.client.create(_LEASE, want)

    # ---- loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Renew the Lease and check the status every `renew_every` seconds, forever; an
        error is logged and the next tick retries sooner (nodelease onRepeatedHeartbeatFailure)."""
        if not self.node_uid:
            await self.register()
        failures = 0
        while True:
            ok = True
            for step in (self.renew_lease, self.post_status):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    ok = False
                    log.warning("node %s heartbeat: %s failed: %r", self.node_name,
                                step.__name__, exc)
            failures = 0 if ok else failures + 1
            # nodelease retries a failed renewal after 200ms doubling (never past the period)
            delay = self.renew_every if ok else min(0.2 * 2 ** (failures - 1), self.renew_every)
            await asyncio.sleep(delay)
