"""A write's result that comes back after the watch event of the object's deletion never puts
the deleted object back into a controller's cache (controllers/tombstones.py). Before, a
StatefulSet controller whose status write raced the set's deletion kept the set cached and went
on re-creating its revision, pods and claims after the set was gone."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from kubeproc.client.local import LocalClient
from kubeproc.controllers.deployment.reconciler import DeploymentController
from kubeproc.controllers.scheduler.reconciler import Scheduler
from kubeproc.controllers.statefulset import reconciler as sts_reconciler
from kubeproc.controllers.statefulset.reconciler import StatefulSetController
from kubeproc.controllers.tombstones import Tombstones
from kubeproc.controllers.volume.reconciler import VolumeController
from kubeproc.machinery.events import EventRecorder
from tests.unit.test_events import cluster


def obj(kind: str, name: str, uid: str, rv: int, ns: str = "default", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "uid": uid,
                                       "resourceVersion": str(rv)}, **extra}


def test_tombstones_remember_the_most_recent_uids() -> None:
    t = Tombstones(limit=2)
    a, b, c = (obj("Pod", n, n, 1) for n in "abc")
    assert not t.buried(a)
    t.bury(a)
    t.bury(b)
    assert t.buried(a) and t.buried(b)
    t.bury(c)  # the oldest goes
    assert not t.buried(a) and t.buried(b) and t.buried(c) and len(t) == 2
    t.bury({"metadata": {}})  # no uid: nothing to remember
    assert len(t) == 2 and not t.buried({"metadata": {}})


def test_controllers_never_put_back_what_their_watch_saw_deleted(tmp_path: Path) -> None:
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            rec = EventRecorder(client, "test")
            spec = {"spec": {"selector": {"matchLabels": {"app": "web"}}, "serviceName": "web"}}

            sts = StatefulSetController(client, rec)
            web = obj("StatefulSet", "web", "u1", 10, **spec)
            sts._observe_set(web, False)
            sts._observe_set(web, True)  # the deletion's event came first...
            sts_reconciler._put(sts.sets, obj("StatefulSet", "web", "u1", 11, **spec))  # ...then the status write's result
            assert sts.sets.get("default", {}) == {}
            await sts._reconcile(("default", "web"))  # nothing to sync: no pod, claim or revision made
            assert client.list_all()[0] == [(r, o) for r, o in client.list_all()[0]
                                            if o.get("kind") == "Namespace"]
            sts_reconciler._put(sts.sets, obj("StatefulSet", "web", "u2", 12, **spec))  # a new set
            assert sts.sets["default"]["web"]["metadata"]["uid"] == "u2"

            dep = DeploymentController(client, rec)
            d = obj("Deployment", "d", "d1", 10)
            dep._observe_deployment(d, False)
            dep._observe_deployment(d, True)
            dep._put(dep.deployments, obj("Deployment", "d", "d1", 11))
            assert dep.deployments == {}
            rs_new = obj("ReplicaSet", "d-1", "r2", 13)
            dep._put(dep.rss, rs_new)  # a new ReplicaSet of the same name, its create's result
            dep._observe_rs(obj("ReplicaSet", "d-1", "r1", 12), True)  # the old one's deletion
            assert dep.rss[("default", "d-1")] is rs_new

            vol = VolumeController(client, rec, str(tmp_path / "data"))
            pv = obj("PersistentVolume", "pv1", "p1", 10, ns="")
            vol._observe("PersistentVolume", pv, False)
            vol._observe("PersistentVolume", pv, True)
            vol._store(vol.pvs, "pv1", obj("PersistentVolume", "pv1", "p1", 11, ns=""), False)
            assert vol.pvs == {}

            # the scheduler: a pod deleted while its binding was being written (the deletion's
            # event handled before the binding's result) holds no resources on the node after
            from kubeproc.api import resources
            from tests.unit.test_scheduler_reconciler import create_ready_node, node, pod as pod_of
            pods = resources.by_kind("", "Pod")
            assert pods is not None
            await create_ready_node(client, node("n1", 4))
            created = await client.create(pods, pod_of("p", cpu="1"))
            sched = Scheduler(LocalClient(reg, "default-scheduler"), rec)
            real_mutate = sched.client.mutate

            async def mutate_then_deleted(*args: Any, **kwargs: Any) -> Any:
                bound = await real_mutate(*args, **kwargs)
                sched._observe_pod(bound, True)  # the watch ran first
                return bound
            sched.client.mutate = mutate_then_deleted  # type: ignore[method-assign]
            assert await sched._bind(created, "n1")
            assert sched.bound == {} and sched.infos == {}
    asyncio.run(body())
