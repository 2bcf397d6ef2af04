"""The garbage collector's loop: keep the owner graph from the watch, run `plan`, act.

Handlers only update the graph and enqueue uids; the worker re-plans from the graph, so a
crash at any line is repaired on the next pass (level-triggered).
"""

from __future__ import annotations

import logging
from typing import Any

from kubeproc.api import errors
from kubeproc.api.resources import Resource
from kubeproc.client.local import LocalClient
from kubeproc.controllers.gc.plan import (Delete, Graph, Node, OwnerRef, RemoveFinalizer,
                                          RemoveOwnerRefs, plan)
from kubeproc.machinery import runner
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)


def node_of(resource: Resource, obj: dict[str, Any]) -> Node:
    meta = obj.get("metadata") or {}
    owners = tuple(OwnerRef(str(o.get("uid", "")), o.get("kind", ""), o.get("name", ""),
                            bool(o.get("blockOwnerDeletion")))
                   for o in meta.get("ownerReferences") or [] if isinstance(o, dict))
    return Node(meta.get("uid", ""), resource.key, meta.get("namespace", "") or "",
                meta.get("name", ""), owners, bool(meta.get("deletionTimestamp")),
                tuple(meta.get("finalizers") or ()))


class GarbageCollector:
    def __init__(self, client: LocalClient) -> None:
        self.client = client
        self.graph = Graph()
        self.queue = WorkQueue()
        self._resources: dict[str, Resource] = {}

    def _observe(self, resource: Resource, obj: dict[str, Any], deleted: bool) -> None:
        node = node_of(resource, obj)
        self._resources[node.resource] = resource
        old = self.graph.nodes.get(node.uid)
        if deleted:
            self.graph.remove(node.uid)
        else:
            self.graph.put(node)
        touched = {node.uid, *(o.uid for o in node.owners)}
        if old is not None:
            touched |= {o.uid for o in old.owners}
        touched |= {d.uid for d in self.graph.dependents_of(node.uid)}
        if deleted:
            touched |= set(self.graph.dependents.get(node.uid, ()))
        for uid in touched:
            self.queue.add(uid)

    async def run(self) -> None:
        objects, rv = self.client.list_all()
        for resource, obj in objects:
            self._observe(resource, obj, deleted=False)
        import asyncio
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch(rv))
            tg.create_task(self._work())

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            self._observe(ev.resource, ev.obj, deleted=ev.type == "DELETED")

    async def _work(self) -> None:
        await runner.work(self.queue, self._reconcile, "garbage-collector")

    async def _reconcile(self, uid) -> None:
        for action in plan(self.graph, str(uid)):
            await self._act(action)

    async def _act(self, action) -> None:
        node = action.node
        resource = self._resources[node.resource]
        if isinstance(action, Delete):
            await self.client.delete(resource, node.namespace, node.name, action.propagation,
                                     uid=node.uid)
        elif isinstance(action, RemoveOwnerRefs):
            drop = set(action.uids)

            def strip(obj: dict[str, Any]) -> dict[str, Any]:
                if obj["metadata"].get("uid") != node.uid:
                    raise errors.NotFound("gone")
                refs = [o for o in obj["metadata"].get("ownerReferences") or []
                        if o.get("uid") not in drop]
                if refs:
                    obj["metadata"]["ownerReferences"] = refs
                else:
                    obj["metadata"].pop("ownerReferences", None)
                return obj
            await self.client.mutate(resource, node.namespace, node.name, strip)
        elif isinstance(action, RemoveFinalizer):
            def unfinalize(obj: dict[str, Any]) -> dict[str, Any]:
                if obj["metadata"].get("uid") != node.uid:
                    raise errors.NotFound("gone")
                fins = [f for f in obj["metadata"].get("finalizers") or [] if f != action.finalizer]
                if fins:
                    obj["metadata"]["finalizers"] = fins
                else:
                    obj["metadata"].pop("finalizers", None)
                return obj
            await self.client.mutate(resource, node.namespace, node.name, unfinalize)
