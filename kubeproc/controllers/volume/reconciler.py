"""The volume controller's loop: the PV controller, the local-path provisioner and the
pvc/pv-protection controllers over one cache of claims, volumes, classes, pods and nodes.

Keys are ("pvc", namespace, name) and ("pv", "", name). Each reconcile reads the object fresh,
settles its protection finalizer, applies the pure sync plan (sync.py) and, for claims handed
to us, provisions a directory (localpath.py) and its PV.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
from collections.abc import Hashable, Mapping
from datetime import datetime, timezone
from typing import Any

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.tombstones import Tombstones, uid_of
from kubeproc.controllers.volume import binder as b
from kubeproc.controllers.volume import protection, provisioner as prov
from kubeproc.controllers.volume.localpath import LocalPaths
from kubeproc.controllers.volume.sync import sync_claim, sync_volume
from kubeproc.machinery import runner
from kubeproc.machinery.events import EventRecorder
from kubeproc.machinery.queue import WorkQueue

log = logging.getLogger(__name__)
_PV = resources.by_kind("", "PersistentVolume")
_PVC = resources.by_kind("", "PersistentVolumeClaim")
_SC = resources.by_kind("storage.k8s.io", "StorageClass")
_POD = resources.by_kind("", "Pod")
_NODE = resources.by_kind("", "Node")
Key = tuple[str, str, str]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _nsname(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


def _rv(obj: Mapping[str, Any]) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class VolumeController:
    """`data_dir` holds the volumes (DATA/volumes/<ns>/<claim>-<uid>); `node_name` is where
    volumes of Immediate classes live (no scheduler choice to follow)."""

    def __init__(self, client: LocalClient, recorder: EventRecorder, data_dir: str,
                 node_name: str = "", *, provisioner: str = prov.PROVISIONER,
                 paths: LocalPaths | None = None) -> None:
        self.client = client
        self.recorder = recorder
        self.node_name = node_name
        self.provisioner = provisioner
        self.paths = paths or LocalPaths(os.path.join(data_dir, "volumes"))
        self.queue = WorkQueue(base_delay=0.05, max_delay=5.0)
        self.pvs: dict[str, dict[str, Any]] = {}
        self.pvcs: dict[tuple[str, str], dict[str, Any]] = {}
        self.classes: dict[str, dict[str, Any]] = {}
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.node_labels: dict[str, dict[str, str]] = {}
        self.gone = Tombstones()  # deleted objects: never put back (controllers/tombstones.py)

    # ---- cache -----------------------------------------------------------------------
    def _observe(self, kind: str, obj: dict[str, Any], deleted: bool) -> None:
        ns, name = _nsname(obj)
        if kind == "PersistentVolume":
            self._store(self.pvs, name, obj, deleted)
            self.queue.add(("pv", "", name))
            ref = (obj.get("spec") or {}).get("claimRef") or {}
            if ref.get("name"):
                self.queue.add(("pvc", ref.get("namespace", ""), ref["name"]))
        elif kind == "PersistentVolumeClaim":
            self._store(self.pvcs, (ns, name), obj, deleted)
            self.queue.add(("pvc", ns, name))
            for pv_name, pv in self.pvs.items():  # the volume(s) bound or pre-bound to it
                ref = (pv.get("spec") or {}).get("claimRef") or {}
                if (ref.get("namespace"), ref.get("name")) == (ns, name) or \
                        pv_name == (obj.get("spec") or {}).get("volumeName"):
                    self.queue.add(("pv", "", pv_name))
        elif kind == "StorageClass":
            self._store(self.classes, name, obj, deleted)
            for key, claim in self.pvcs.items():  # a new (default) class may serve them
                if not (claim.get("spec") or {}).get("volumeName"):
                    self.queue.add(("pvc", *key))
        elif kind == "Pod":
            self._store(self.pods, (ns, name), obj, deleted)
            for claim in b.claim_names(obj):  # protection and WaitForPodScheduled
                self.queue.add(("pvc", ns, claim))
        elif kind == "Node":
            if deleted:
                self.node_labels.pop(name, None)
            else:
                self.node_labels[name] = dict((obj.get("metadata") or {}).get("labels") or {})

    def _store(self, cache: dict[Any, dict[str, Any]], key: Any, obj: dict[str, Any], deleted: bool) -> None:
        if deleted:
            self.gone.bury(obj)
            if uid_of(cache.get(key) or {}) == uid_of(obj):
                cache.pop(key, None)
        elif self.gone.buried(obj):
            return  # a write's result that came back after its deletion's event
        elif key not in cache or _rv(cache[key]) <= _rv(obj):
            cache[key] = obj

    async def run(self) -> None:
        kinds = [r for r in (_SC, _NODE, _POD, _PV, _PVC) if r is not None]
        snapshot = [(r.kind, self.client.list(r)) for r in kinds]  # no await: one snapshot
        rv = min(got[1] for _, got in snapshot)
        for kind, (items, _) in snapshot:
            for obj in items:
                self._observe(kind, obj, False)
        await runner.serve(self._watch(rv), self.queue, self._reconcile, "persistentvolume-controller")

    async def _watch(self, rv: int) -> None:
        kinds = {"PersistentVolume", "PersistentVolumeClaim", "StorageClass", "Pod", "Node"}
        async for ev in self.client.watch_all(rv):
            if ev.resource.kind in kinds:
                self._observe(ev.resource.kind, ev.obj, ev.type == "DELETED")

    # ---- reconcile -------------------------------------------------------------------
    async def _reconcile(self, key: Hashable) -> None:
        assert isinstance(key, tuple)
        kind, ns, name = key
        if kind == "pvc":
            await self._sync_claim(ns, name)
        else:
            await self._sync_volume(name)

    async def _finalizer(self, res: Any, obj: dict[str, Any], finalizer: str,
                         change: protection.Change) -> dict[str, Any]:
        ns, name = _nsname(obj)
        uid = obj["metadata"].get("uid")

        def edit(old: dict[str, Any]) -> dict[str, Any]:
            if old["metadata"].get("uid") != uid:
                raise errors.Conflict.of(res.plural, res.group, name, "the object was replaced")
            return protection.with_finalizer(old, finalizer, change)
        return await self.client.mutate(res, ns, name, edit)

    async def _sync_claim(self, ns: str, name: str) -> None:
        assert _PVC is not None
        claim = self.client.get(_PVC, ns, name)
        if claim is None:
            self.pvcs.pop((ns, name), None)
            return
        self._store(self.pvcs, (ns, name), claim, False)
        pods = [p for (pns, _), p in self.pods.items() if pns == ns]
        change = protection.claim_finalizer(claim, pods)
        if change == "remove":
            # pvc_protection_controller.go isBeingUsed asks the API server, not only the cache
            assert _POD is not None
            live, _ = self.client.list(_POD, ns)
            change = protection.claim_finalizer(claim, live)
        if change is not None:
            claim = await self._finalizer(_PVC, claim, protection.PVC_FINALIZER, change)
            self._store(self.pvcs, (ns, name), claim, False)
            if change == "remove":
                return  # the claim is gone now, or soon; its volume hears of it
        await self._apply(sync_claim(claim, self.pvs, self.classes, pods, _now(), self.node_labels))
        claim = self.pvcs.get((ns, name)) or claim
        if prov.should_provision(claim, self.classes, self.pvs, self.provisioner):
            await self._provision(claim, pods)

    async def _sync_volume(self, name: str) -> None:
        assert _PV is not None and _PVC is not None
        volume = self.client.get(_PV, "", name)
        if volume is None:
            self.pvs.pop(name, None)
            return
        self._store(self.pvs, name, volume, False)
        change = protection.volume_finalizer(volume)
        if change is not None:
            volume = await self._finalizer(_PV, volume, protection.PV_FINALIZER, change)
            self._store(self.pvs, name, volume, False)
            if change == "remove":
                return
        ref = (volume.get("spec") or {}).get("claimRef") or {}
        # syncVolume double-checks a claim missing from the cache with the API server
        claim = self.client.get(_PVC, ref.get("namespace", ""), ref["name"]) if ref.get("name") else None
        await self._apply(sync_volume(volume, claim, _now(), self.provisioner))

    async def _apply(self, actions: list[b.Action]) -> None:
        assert _PV is not None and _PVC is not None
        latest: dict[tuple[str, str, str], str] = {}  # an object's rv after our last write
        for action in actions:
            if isinstance(action, b.Write):
                obj = copy.deepcopy(action.obj)
                ns, name = _nsname(obj)
                key = (obj.get("kind", ""), ns, name)
                if key in latest:
                    obj["metadata"]["resourceVersion"] = latest[key]
                res = _PV if obj.get("kind") == "PersistentVolume" else _PVC
                new = await self.client.update(res, obj, subresource=action.subresource)
                latest[key] = new["metadata"]["resourceVersion"]
                if res is _PV:
                    self._store(self.pvs, name, new, False)
                else:
                    self._store(self.pvcs, (ns, name), new, False)
            elif isinstance(action, b.Emit):
                await self.recorder.event(action.obj, action.type, action.reason, action.message)
            elif isinstance(action, b.EnqueueClaim):
                self.queue.add(("pvc", action.namespace, action.name))
            elif isinstance(action, b.DeleteProvisioned):
                await self._delete_provisioned(action.volume)

    async def _provision(self, claim: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        """provisionClaimOperation: the directory first, then the PV pointing at the claim."""
        assert _PV is not None
        ns, name = _nsname(claim)
        class_name = b.claim_class(claim)
        sc = self.classes[class_name]
        await self.recorder.normal(claim, "Provisioning",
                                   f'External provisioner is provisioning volume for claim "{ns}/{name}"')
        path = prov.volume_path(self.paths.root, claim)
        owner = prov.ownership(prov.first_consumer(claim, pods))
        try:
            await asyncio.to_thread(self.paths.create, path, owner)
        except (OSError, ValueError) as exc:
            await self.recorder.warning(claim, "ProvisioningFailed",
                                        f'failed to provision volume with StorageClass "{class_name}": {exc}')
            raise  # the runner retries the claim with backoff
        pv = prov.provisioned_volume(claim, sc, path, prov.target_node(claim, self.node_name),
                                     self.provisioner)
        try:
            created = await self.client.create(_PV, pv)
        except errors.AlreadyExists:
            return
        self._store(self.pvs, created["metadata"]["name"], created, False)
        await self.recorder.normal(claim, "ProvisioningSucceeded",
                                   f"Successfully provisioned volume {created['metadata']['name']}")

    async def _delete_provisioned(self, volume: dict[str, Any]) -> None:
        """deleteVolumeOperation of the provisioner: remove the directory, then the PV."""
        assert _PV is not None
        if not prov.should_delete(volume, self.provisioner):
            return
        name = volume["metadata"]["name"]
        path = prov.volume_dir(volume)
        try:
            if path:
                await asyncio.to_thread(self.paths.remove, path)
        except (OSError, ValueError) as exc:
            await self.recorder.warning(volume, "VolumeFailedDelete", str(exc))
            raise
        try:
            await self.client.delete(_PV, "", name, uid=volume["metadata"].get("uid"))
        except (errors.NotFound, errors.Conflict):
            pass
