"""The disruption controller's loop: keep every PodDisruptionBudget's status current.

Caches PDBs and pods from the watch; a PDB change queues that PDB, a pod change queues the
PDBs selecting the pod (disruption.go addPod/updatePod/deletePod, getPdbForPod). Each sync runs
`plan.sync` and writes the status through the status subresource only when it changed; PDBs
with pending disruptedPods entries are re-queued when the earliest entry expires (recheckQueue).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources, selectors
from kubeproc.client.local import LocalClient
from kubeproc.controllers.disruption import plan
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_POD = resources.by_kind("", "Pod")
_PDB = resources.by_kind("policy", "PodDisruptionBudget")
Key = tuple[str, str]
Obj = dict[str, Any]
NAME = "disruption-controller"


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", "") or "", meta.get("name", "")


def _selects(pdb: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    """policy/v1 lister GetPodPodDisruptionBudgets: an empty selector matches every pod, a nil
    one none, an invalid one none."""
    try:
        sel = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
    except errors.StatusError:
        return False
    return sel.matches((pod.get("metadata") or {}).get("labels") or {})


def _scale_kinds(group: str, kind: str) -> tuple[str, bool] | None:
    res = resources.by_kind(group, kind)
    if res is None:
        return None
    return (f"{res.plural}.{res.group}" if res.group else res.plural), "scale" in res.subresources


class DisruptionController:
    def __init__(self, client: LocalClient, recorder: EventRecorder, *,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.client = client
        self.recorder = recorder
        self.now = now
        self.queue = WorkQueue(base_delay=0.05, max_delay=30.0)
        self.pdbs: dict[Key, Obj] = {}
        self.pods: dict[str, dict[str, Obj]] = {}  # namespace -> name -> pod

    # ---- cache and event handlers --------------------------------------------------------
    def pdbs_for(self, pod: Mapping[str, Any]) -> list[Key]:
        ns = (pod.get("metadata") or {}).get("namespace", "")
        return sorted(k for k, pdb in self.pdbs.items() if k[0] == ns and _selects(pdb, pod))

    def _observe_pdb(self, pdb: Obj, deleted: bool) -> None:
        key = _key(pdb)
        if deleted:
            self.pdbs.pop(key, None)
        else:
            self.pdbs[key] = pdb
            self.queue.add(key)

    def _observe_pod(self, pod: Obj, deleted: bool) -> list[Key]:
        ns, name = _key(pod)
        if deleted:
            self.pods.get(ns, {}).pop(name, None)
        else:
            self.pods.setdefault(ns, {})[name] = pod
        keys = self.pdbs_for(pod)
        # upstream enqueues one PDB arbitrarily; every selecting PDB's counts change, so all go
        for key in keys:
            self.queue.add(key)
        return keys

    async def _multiple(self, pod: Obj, keys: list[Key]) -> None:
        # getPdbForPod: a pod under several budgets is reported on each of its changes
        ns, name = _key(pod)
        await self.recorder.warning(
            pod, "MultiplePodDisruptionBudgets",
            f'Pod "{ns}"/"{name}" matches multiple PodDisruptionBudgets.  '
            f'Chose "{keys[0][1]}" arbitrarily.')

    # ---- loop ----------------------------------------------------------------------------
    async def run(self) -> None:
        assert _POD is not None and _PDB is not None
        pdbs, rv = self.client.list(_PDB)
        pods, _ = self.client.list(_POD)  # same snapshot: no await in between
        for pdb in pdbs:
            self._observe_pdb(pdb, False)
        for pod in pods:
            self._observe_pod(pod, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, NAME)

    async def _watch(self, rv: int) -> None:
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind == "PodDisruptionBudget":
                self._observe_pdb(ev.obj, ev.type == "DELETED")
            elif ev.resource.kind == "Pod":
                keys = self._observe_pod(ev.obj, ev.type == "DELETED")
                if len(keys) > 1 and ev.type != "DELETED":
                    await self._multiple(ev.obj, keys)

    def _lookup(self, group: str, kind: str, namespace: str, name: str) -> Obj | None:
        res = resources.by_kind(group, kind)
        return None if res is None else self.client.get(res, namespace, name)

    async def _reconcile(self, key: Hashable) -> None:
        assert _PDB is not None and isinstance(key, tuple)
        ns, name = key
        pdb = self.client.get(_PDB, ns, name)  # the latest: fewer conflicts with evictions
        if pdb is None:
            return
        pods = [p for p in self.pods.get(ns, {}).values() if _selects(pdb, p)]
        pods.sort(key=lambda p: p["metadata"].get("name", ""))
        result = plan.sync(pdb, pods, self._lookup, _scale_kinds, self.now())
        for obj, type_, reason, message in result.events:
            await self.recorder.event(obj, type_, reason, message)
        if result.changed:
            # writePdbStatus: UpdateStatus with the read resourceVersion; a Conflict retries
            await self.client.update(_PDB, {**pdb, "status": result.status}, subresource="status")
        if result.recheck_after is not None:
            self.queue.add_after(key, result.recheck_after)
