"""The garbage collector's event handler (gc/reconciler.py `_observe`): which objects an event
queues for planning, as graph_builder.go processGraphChanges decides."""

from __future__ import annotations

import asyncio

from kubeproc.api.resources import by_kind
from kubeproc.controllers.gc.reconciler import GarbageCollector

RS = by_kind("apps", "ReplicaSet")
POD = by_kind("", "Pod")


def _rs() -> dict:
    return {"metadata": {"uid": "rs", "namespace": "ns", "name": "web-1"}}


def _pod(i: int, **meta) -> dict:
    return {"metadata": {"uid": f"p{i}", "namespace": "ns", "name": f"web-1-{i}",
                         "ownerReferences": [{"uid": "rs", "kind": "ReplicaSet", "name": "web-1",
                                              "blockOwnerDeletion": True}], **meta},
            "status": {"phase": "Pending"}}


def _drain(gc: GarbageCollector) -> set:
    async def take() -> set:
        out = set()
        while len(gc.queue):
            key = await gc.queue.get()
            gc.queue.done(key)
            out.add(key)
        return out
    return asyncio.run(take())


def _gc_with_pods(n: int) -> GarbageCollector:
    gc = GarbageCollector(client=None)  # _observe never calls the client
    gc._observe(RS, _rs(), deleted=False)
    for i in range(n):
        gc._observe(POD, _pod(i), deleted=False)
    _drain(gc)
    return gc


def test_a_status_update_queues_nothing() -> None:
    gc = _gc_with_pods(3)
    running = _pod(1)
    running["status"] = {"phase": "Running"}
    gc._observe(POD, running, deleted=False)
    rs = _rs()
    rs["status"] = {"replicas": 3}  # the owner's status changes: its dependents are not re-planned
    gc._observe(RS, rs, deleted=False)
    assert _drain(gc) == set()


def test_a_new_dependent_queues_itself_and_its_owner() -> None:
    gc = _gc_with_pods(2)
    gc._observe(POD, _pod(7), deleted=False)
    assert _drain(gc) == {"p7", "rs"}


def test_deletion_state_or_owner_changes_queue_the_related_objects() -> None:
    gc = _gc_with_pods(3)
    gc._observe(RS, {**_rs(), "metadata": {**_rs()["metadata"], "deletionTimestamp": "now",
                                            "finalizers": ["foregroundDeletion"]}}, deleted=False)
    assert _drain(gc) == {"rs", "p0", "p1", "p2"}
    orphaned = _pod(2)
    del orphaned["metadata"]["ownerReferences"]
    gc._observe(POD, orphaned, deleted=False)
    assert _drain(gc) == {"p2", "rs"}  # the owner may be waiting for it


def test_a_deleted_owner_queues_its_dependents() -> None:
    gc = _gc_with_pods(2)
    gc._observe(RS, _rs(), deleted=True)
    assert _drain(gc) == {"rs", "p0", "p1"}
