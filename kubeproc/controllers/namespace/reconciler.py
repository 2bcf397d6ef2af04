"""The namespace controller's loop: on any change in a terminating namespace, re-plan and act.

Also makes sure every active namespace has its `default` ServiceAccount, as the upstream
serviceaccounts controller does (pkg/controller/serviceaccount/serviceaccounts_controller.go).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.namespace.plan import FINALIZER, DeleteContent, Finalize, plan
from kubeproc.machinery import runner
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_NS = resources.by_kind("", "Namespace")
_SA = resources.by_kind("", "ServiceAccount")
_NAMESPACED = {r.key: r for r in resources.RESOURCES if r.namespaced
               and "delete" in r.verbs}


class NamespaceController:
    def __init__(self, client: LocalClient) -> None:
        self.client = client
        self.queue = WorkQueue(base_delay=0.05, max_delay=2.0)

    async def run(self) -> None:
        assert _NS is not None
        namespaces, rv = self.client.list(_NS)
        for ns in namespaces:
            self.queue.add(ns["metadata"]["name"])
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch(rv))
            tg.create_task(self._work())

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind == "Namespace":
                self.queue.add(ev.obj["metadata"]["name"])
            elif ev.resource.namespaced and ev.type == "DELETED":
                self.queue.add(ev.obj["metadata"].get("namespace", ""))

    async def _work(self) -> None:
        await runner.work(self.queue, self._reconcile, "namespace-controller")

    async def _reconcile(self, name) -> None:
        assert _NS is not None and _SA is not None
        ns = self.client.get(_NS, "", name)
        if ns is None:
            return
        if not ns["metadata"].get("deletionTimestamp"):
            if self.client.get(_SA, name, "default") is None:
                await self.client.create(_SA, {"apiVersion": "v1", "kind": "ServiceAccount",
                                               "metadata": {"name": "default", "namespace": name}})
            return
        content: dict[str, list[dict[str, Any]]] = {}
        for key, res in _NAMESPACED.items():
            content[key] = self.client.list(res, name)[0]
        decision = plan(ns, content)
        for action in decision.actions:
            if isinstance(action, DeleteContent):
                res = _NAMESPACED[action.resource]
                for obj_name in action.names:
                    try:
                        await self.client.delete(res, name, obj_name, "Background")
                    except errors.NotFound:
                        pass
            elif isinstance(action, Finalize):
                def drop(obj: dict[str, Any]) -> dict[str, Any]:
                    spec = obj.setdefault("spec", {})
                    spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
                    return obj
                await self.client.mutate(_NS, "", name, drop, subresource="finalize")
        if decision.waiting_on:
            self.queue.add_after(name, 1.0)
