"""The EndpointSlice controller's loop, and the Service/Pod watch plumbing it shares with the
Endpoints controller: a change to a Service, to a pod it selects (before or after the change)
or to one of its managed objects queues the Service; a sync lists its pods and applies a plan.

Follows pkg/controller/endpointslice/endpointslice_controller.go (syncService, pod handlers).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient, WatchEvent
from kubeproc.controllers.endpointslice.plan import (
    LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MANAGED_BY, MAX_ENDPOINTS_PER_SLICE,
    TriggerTimeTracker, reconcile)
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
SERVICE = resources.by_kind("", "Service")
POD = resources.by_kind("", "Pod")
SLICE = resources.by_kind("discovery.k8s.io", "EndpointSlice")
NODE = resources.by_kind("", "Node")
NODE_RETRY = 1.0  # seconds before a Service with pods on unknown Nodes is synced again
Key = tuple[str, str]


def selector_of(svc: Mapping[str, Any]) -> dict[str, str] | None:
    # a Service without a selector (nil or, after a protobuf round trip, empty) is not ours
    sel = (svc.get("spec") or {}).get("selector")
    return dict(sel) if sel else None


def _matches(sel: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in sel.items())


class ServiceWatcher:
    """Queues Services on the changes that can alter their endpoints; subclasses `sync`."""
    name = "service-watcher"

    def __init__(self, client: LocalClient, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder
        self.queue = WorkQueue(base_delay=0.05, max_delay=5.0)
        self.selectors: dict[Key, dict[str, str]] = {}  # Services with a selector
        self.pod_labels: dict[Key, dict[str, str]] = {}
        self.triggers = TriggerTimeTracker()

    async def run(self) -> None:
        assert SERVICE is not None and POD is not None
        services, rv = self.client.list(SERVICE)
        pods, _ = self.client.list(POD)  # same snapshot: no await in between
        for pod in pods:
            self._observe_pod(pod, False)
        for svc in services:
            self._observe_service(svc, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, self.name)

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            kind = ev.resource.kind
            if kind == "Service":
                self._observe_service(ev.obj, ev.type == "DELETED")
            elif kind == "Pod":
                self._observe_pod(ev.obj, ev.type == "DELETED")
            else:
                self.observe_other(ev)

    def observe_other(self, ev: WatchEvent) -> None:
        """A subclass's own kind (its slices / Endpoints) changed."""

    def _observe_service(self, svc: Mapping[str, Any], deleted: bool) -> None:
        meta = svc.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        sel = None if deleted else selector_of(svc)
        if sel is None:
            self.selectors.pop(key, None)
        else:
            self.selectors[key] = sel
        self.queue.add(key)

    def _observe_pod(self, pod: Mapping[str, Any], deleted: bool) -> None:
        # endpointslice_controller.go updatePod: Services selecting the old or new labels
        meta = pod.get("metadata") or {}
        ns, key = meta.get("namespace", ""), (meta.get("namespace", ""), meta.get("name", ""))
        old = self.pod_labels.pop(key, None)
        new = dict(meta.get("labels") or {})
        if not deleted:
            self.pod_labels[key] = new
        for skey, sel in self.selectors.items():
            if skey[0] == ns and (_matches(sel, new) or (old is not None and _matches(sel, old))):
                self.queue.add(skey)

    async def _reconcile(self, key: Hashable) -> None:
        assert SERVICE is not None and POD is not None and isinstance(key, tuple)
        ns, name = key
        svc = self.client.get(SERVICE, ns, name)
        if svc is None:
            self.triggers.forget(ns, name)
            await self.gone(ns, name)
            return
        sel = selector_of(svc)
        if sel is None:
            return  # endpoints of selector-less Services are written by their users
        text = ",".join(f"{k}={v}" for k, v in sorted(sel.items()))
        pods, _ = self.client.list(POD, ns, label_selector=text)
        await self.sync(svc, pods)

    async def gone(self, ns: str, name: str) -> None:
        """The Service was deleted."""

    async def sync(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        raise NotImplementedError


class EndpointSliceController(ServiceWatcher):
    name = "endpointslice-controller"

    def __init__(self, client: LocalClient, recorder: EventRecorder,
                 max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        super().__init__(client, recorder)
        self.max_endpoints_per_slice = max_endpoints_per_slice

    def observe_other(self, ev: WatchEvent) -> None:
        # onEndpointSliceAdd/Update/Delete: our slices changed by someone else are re-synced
        if ev.resource.kind != "EndpointSlice":
            return
        meta = ev.obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_MANAGED_BY) == MANAGED_BY and labels.get(LABEL_SERVICE_NAME):
            self.queue.add((meta.get("namespace", ""), labels[LABEL_SERVICE_NAME]))

    async def sync(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        assert SLICE is not None and NODE is not None
        meta = svc["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            return  # syncService: ExternalName Services get no endpoints (issues.k8s.io/105986)
        existing, _ = self.client.list(
            SLICE, ns, f"{LABEL_SERVICE_NAME}={name},{LABEL_MANAGED_BY}={MANAGED_BY}")
        # dropEndpointSlicesPendingDeletion: a slice being deleted no longer counts
        existing = [s for s in existing if not s["metadata"].get("deletionTimestamp")]
        trigger = self.triggers.compute(svc, pods)
        nodes = {n["metadata"]["name"] for n in self.client.list(NODE)[0]}
        plan = reconcile(svc, pods, existing, trigger, self.max_endpoints_per_slice, nodes)
        for slc in plan.create:
            try:
                await self.client.create(SLICE, slc)
            except errors.Forbidden:
                return  # the namespace is terminating: nothing more to create
        for slc in plan.update:
            await self.client.update(SLICE, slc)  # a Conflict retries the whole sync
        for slc in plan.delete:
            try:
                await self.client.delete(SLICE, ns, slc["metadata"]["name"])
            except errors.NotFound:
                pass
        if plan.skipped:
            log.info("service %s/%s: pods %s skipped, their Node is not found", ns, name,
                     ", ".join(plan.skipped))
            self.queue.add_after((ns, name), NODE_RETRY)
