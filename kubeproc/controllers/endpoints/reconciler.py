"""The Endpoints controller's loop: keeps the core/v1 Endpoints named after each Service with a
selector in step with its pods, and deletes it with the Service.

Follows pkg/controller/endpoint/endpoints_controller.go (syncService); the Service/Pod watch
plumbing is shared with the EndpointSlice controller.
"""

from __future__ import annotations

from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import WatchEvent
from kubeproc.controllers.endpoints.plan import desired_endpoints
from kubeproc.controllers.endpointslice.reconciler import ServiceWatcher

ENDPOINTS = resources.by_kind("", "Endpoints")


class EndpointsController(ServiceWatcher):
    name = "endpoint-controller"

    def observe_other(self, ev: WatchEvent) -> None:
        # onEndpointsDelete: a deleted Endpoints of a selector Service is recreated
        if ev.resource.kind == "Endpoints" and ev.type == "DELETED":
            meta = ev.obj.get("metadata") or {}
            key = (meta.get("namespace", ""), meta.get("name", ""))
            if key in self.selectors:
                self.queue.add(key)

    async def gone(self, ns: str, name: str) -> None:
        # syncService: the Service is gone, so is its Endpoints (only if we would manage it)
        assert ENDPOINTS is not None
        try:
            await self.client.delete(ENDPOINTS, ns, name)
        except errors.NotFound:
            pass

    async def sync(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        assert ENDPOINTS is not None
        ns, name = svc["metadata"].get("namespace", ""), svc["metadata"]["name"]
        current = self.client.get(ENDPOINTS, ns, name)
        trigger = self.triggers.compute(svc, pods)
        want = desired_endpoints(svc, pods, current, trigger)
        if want is None:
            return
        if current is None:
            try:
                await self.client.create(ENDPOINTS, want)
            except errors.Forbidden:
                pass  # the namespace is terminating
            except errors.AlreadyExists:
                self.queue.add((ns, name))  # raced with another writer: re-read and update
        else:
            await self.client.update(ENDPOINTS, want)  # a Conflict retries the sync
