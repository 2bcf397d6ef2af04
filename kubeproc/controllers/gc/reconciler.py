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
        if not deleted and old == node:
            # graph_builder.go processGraphChanges: an update that changes no owner reference,
            # finalizer or deletion state (a pod's status, say) queues nothing; re-planning the
            # object and every dependent of it on each such event cost O(dependents) per event
            return
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
            await self.client.mutate(resource, node.namespace, node.name, _dropping(
                node.uid, "ownerReferences", lambda ref: ref.get("uid") in drop))
        elif isinstance(action, RemoveFinalizer):
            await self.client.mutate(resource, node.namespace, node.name, _dropping(
                node.uid, "finalizers", lambda fin: fin == action.finalizer))


def _dropping(uid: str, field: str, drop):
    """An edit removing the entries `drop` selects from metadata[field] of the object with
    `uid` (a recreated object of the same name is left alone)."""
    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        if meta.get("uid") != uid:
            raise errors.NotFound("gone")
        kept = [entry for entry in meta.get(field) or [] if not drop(entry)]
        if kept:
            meta[field] = kept
        else:
            meta.pop(field, None)
        return obj
    return edit
