"""The Deployment controller (kubeproc.controllers.deployment.reconciler) with the ReplicaSet
controller over a real Registry, and a fake kubelet that marks pods Ready through the status
subresource: a rolling update that never drops below `replicas` available pods, Recreate without
overlap, `rollout undo` as kubectl does it (revision 1's template becomes revision 3), pausing,
and proportional scaling in the middle of a stuck rollout (the numbers of upstream's docs)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.deployment import hashing
from kubeproc.controllers.deployment.reconciler import DeploymentController
from kubeproc.controllers.replicaset.reconciler import ReplicaSetController
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

POD = resources.by_kind("", "Pod")
RS = resources.by_kind("apps", "ReplicaSet")
DEPLOY = resources.by_kind("apps", "Deployment")
Scenario = Callable[[Registry, LocalClient, "Kubelet"], Awaitable[None]]


def deployment(replicas: int = 3, image: str = "img:a", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


def rolling(surge: Any, unavailable: Any) -> dict[str, Any]:
    return {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}


def image_of(pod: dict[str, Any]) -> str:
    return pod["spec"]["containers"][0]["image"]


class Kubelet:
    """Marks pods Ready (when `ready_images` allows) and records, after every pod event, the
    live pods: what the invariants are checked on."""

    def __init__(self, client: LocalClient) -> None:
        self.client = client
        self.ready_images: set[str] | None = None  # None: every image becomes ready
        self.pods: dict[str, dict[str, Any]] = {}
        self.history: list[list[dict[str, Any]]] = []

    def live(self) -> list[dict[str, Any]]:
        return [p for p in self.pods.values() if not p["metadata"].get("deletionTimestamp")]

    def ready(self) -> int:
        return sum(1 for p in self.live() if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or ()))

    async def run(self) -> None:
        assert POD is not None
        async for ev in self.client.watch_all(0):
            if ev.resource.kind != "Pod":
                continue
            pod = ev.obj
            name = pod["metadata"]["name"]
            if ev.type == "DELETED":
                self.pods.pop(name, None)
            else:
                self.pods[name] = pod
            self.history.append(copy.deepcopy(self.live()))
            if ev.type == "ADDED" and (self.ready_images is None or image_of(pod) in self.ready_images):
                await self.mark_ready(name)

    async def mark_ready(self, name: str) -> None:
        assert POD is not None
        now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def status(obj: dict[str, Any]) -> dict[str, Any]:
            obj["status"]["phase"] = "Running"
            obj["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                            "lastTransitionTime": now}]
            return obj
        await self.client.mutate(POD, "default", name, status, subresource="status")


def run_with(tmp: Path, scenario: Scenario) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            kcm = LocalClient(reg, "kube-controller-manager")
            kubelet = Kubelet(LocalClient(reg, "kubelet"))
            tasks = [asyncio.create_task(c) for c in (
                DeploymentController(kcm, EventRecorder(kcm, "deployment-controller")).run(),
                ReplicaSetController(kcm, EventRecorder(kcm, "replicaset-controller")).run(),
                kubelet.run())]
            try:
                await scenario(reg, LocalClient(reg, "test"), kubelet)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    asyncio.run(body())


def get_d(client: LocalClient) -> dict[str, Any]:
    assert DEPLOY is not None
    d = client.get(DEPLOY, "default", "web")
    assert d is not None
    return d


def rss(client: LocalClient) -> dict[str, dict[str, Any]]:
    assert RS is not None
    return {r["metadata"]["name"]: r for r in client.list(RS, "default")[0]}


def reason(d: dict[str, Any], ctype: str) -> str | None:
    for c in (d.get("status") or {}).get("conditions") or ():
        if c["type"] == ctype:
            return c["reason"]
    return None


def complete(client: LocalClient, replicas: int) -> bool:
    d = get_d(client)
    s = d.get("status") or {}
    return (s.get("observedGeneration") == d["metadata"]["generation"]
            and s.get("updatedReplicas") == replicas and s.get("replicas") == replicas
            and s.get("availableReplicas") == replicas
            and reason(d, "Progressing") == "NewReplicaSetAvailable")


async def edit(client: LocalClient, fn: Callable[[dict[str, Any]], None]) -> None:
    assert DEPLOY is not None

    def change(obj: dict[str, Any]) -> dict[str, Any]:
        fn(obj)
        return obj
    await client.mutate(DEPLOY, "default", "web", change)


def set_image(image: str) -> Callable[[dict[str, Any]], None]:
    def fn(d: dict[str, Any]) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return fn


def revisions(client: LocalClient) -> dict[str, str | None]:
    return {n: (r["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
            for n, r in rss(client).items()}


def test_rolling_update_keeps_availability(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None
        await client.create(DEPLOY, deployment(3, strategy=rolling(1, 0)))
        await until(lambda: complete(client, 3))
        d = get_d(client)
        first = f"web-{hashing.compute_hash(d['spec']['template'], None)}"
        assert list(rss(client)) == [first]
        rs = rss(client)[first]
        assert rs["metadata"]["labels"]["pod-template-hash"] == first[4:]
        assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": first[4:]}
        assert rs["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "1",
                                                 "deployment.kubernetes.io/desired-replicas": "3",
                                                 "deployment.kubernetes.io/max-replicas": "4"}
        assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        assert reason(d, "Available") == "MinimumReplicasAvailable"
        start = len(kubelet.history)
        await edit(client, set_image("img:b"))
        await until(lambda: complete(client, 3) and len(rss(client)) == 2
                    and all(image_of(p) == "img:b" for p in kubelet.live()))
        sizes = {n: r["spec"]["replicas"] for n, r in rss(client).items()}
        second = next(n for n in sizes if n != first)
        assert sizes == {first: 0, second: 3}
        assert revisions(client) == {first: "1", second: "2"}
        assert get_d(client)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
        # maxUnavailable 0: never fewer than 3 ready pods; maxSurge 1: never more than 4 pods
        assert len(kubelet.history) - start >= 9  # 3 creations, 3 Ready, 3 deletions at least
        for live in kubelet.history[start:]:
            ready = [p for p in live if any(c.get("type") == "Ready" and c.get("status") == "True"
                                            for c in (p.get("status") or {}).get("conditions") or ())]
            assert len(ready) >= 3 and len(live) <= 4
        msgs = [e["message"] for e in stored_events(reg) if e["reason"] == "ScalingReplicaSet"]
        assert f"Scaled up replica set {second} from 0 to 1" in msgs
        assert f"Scaled down replica set {first} from 3 to 2" in msgs
        assert f"Scaled down replica set {first} from 1 to 0" in msgs
        d = get_d(client)
        progressing = next(c for c in d["status"]["conditions"] if c["type"] == "Progressing")
        assert progressing["message"] == f'ReplicaSet "{second}" has successfully progressed.'
    run_with(tmp_path, scenario)


def test_recreate_never_overlaps(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None
        await client.create(DEPLOY, deployment(3, strategy={"type": "Recreate"}))
        await until(lambda: complete(client, 3))
        start = len(kubelet.history)
        await edit(client, set_image("img:b"))
        await until(lambda: complete(client, 3) and len(rss(client)) == 2)
        for live in kubelet.history[start:]:
            assert len({image_of(p) for p in live}) <= 1, [image_of(p) for p in live]
        assert sorted(r["spec"]["replicas"] for r in rss(client).values()) == [0, 3]
    run_with(tmp_path, scenario)


def test_rollout_undo_restores_revision_one_as_three(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None
        await client.create(DEPLOY, deployment(2, strategy=rolling("25%", "25%")))
        await until(lambda: complete(client, 2))
        first = next(iter(rss(client)))
        await edit(client, set_image("img:b"))
        await until(lambda: complete(client, 2) and len(rss(client)) == 2)
        # kubectl rollout undo: the template of revision 1's RS without pod-template-hash
        template = copy.deepcopy(rss(client)[first]["spec"]["template"])
        del template["metadata"]["labels"]["pod-template-hash"]
        await edit(client, lambda d: d["spec"].__setitem__("template", template))
        await until(lambda: revisions(client)[first] == "3" and complete(client, 2)
                    and rss(client)[first]["spec"]["replicas"] == 2)
        ann = rss(client)[first]["metadata"]["annotations"]
        assert ann["deployment.kubernetes.io/revision-history"] == "1"
        assert get_d(client)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        assert sorted(revisions(client).values()) == ["2", "3"]
    run_with(tmp_path, scenario)


def test_paused_deployment_does_not_roll_out(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None
        await client.create(DEPLOY, deployment(2))
        await until(lambda: complete(client, 2))
        await edit(client, lambda d: d["spec"].__setitem__("paused", True))
        await until(lambda: reason(get_d(client), "Progressing") == "DeploymentPaused")
        cond = next(c for c in get_d(client)["status"]["conditions"] if c["type"] == "Progressing")
        assert (cond["status"], cond["message"]) == ("Unknown", "Deployment is paused")
        await edit(client, set_image("img:b"))
        gen = get_d(client)["metadata"]["generation"]
        await until(lambda: get_d(client)["status"]["observedGeneration"] == gen)
        assert len(rss(client)) == 1 and all(image_of(p) == "img:a" for p in kubelet.live())
        await edit(client, lambda d: d["spec"].__setitem__("paused", False))
        await until(lambda: complete(client, 2) and len(rss(client)) == 2)
        assert all(image_of(p) == "img:b" for p in kubelet.live())
    run_with(tmp_path, scenario)


@pytest.mark.parametrize("new_size,old_want,new_want", [
    (15, 11, 7),  # docs "Proportional scaling": 5 extra replicas split 3 (old) / 2 (new)
    (5, 3, 5),  # 5 fewer: 8/5 -> 5/3 proportionally, then the rollout goes on to 3/5
], ids=["scale-up-15", "scale-down-5"])
def test_proportional_scaling_mid_rollout(tmp_path: Path, new_size: int, old_want: int,
                                          new_want: int) -> None:
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None
        kubelet.ready_images = {"img:a"}  # the new image never becomes ready: a stuck rollout
        await client.create(DEPLOY, deployment(10, strategy=rolling(3, 2)))
        await until(lambda: complete(client, 10))
        old = next(iter(rss(client)))
        await edit(client, set_image("img:b"))

        def sizes() -> dict[str, int]:
            return {n: r["spec"]["replicas"] for n, r in rss(client).items()}
        await until(lambda: len(sizes()) == 2 and sizes()[old] == 8
                    and sum(sizes().values()) == 13)
        new = next(n for n in sizes() if n != old)
        await edit(client, lambda d: d["spec"].__setitem__("replicas", new_size))
        await until(lambda: sizes() == {old: old_want, new: new_want})
    run_with(tmp_path, scenario)


def test_hash_collision_bumps_collision_count(tmp_path: Path) -> None:
    """sync.go getNewReplicaSet: a foreign ReplicaSet already holds the name the template hashes
    to; the controller bumps status.collisionCount and creates its ReplicaSet under the next hash,
    leaving the foreign one alone."""
    async def scenario(reg: Registry, client: LocalClient, kubelet: Kubelet) -> None:
        assert DEPLOY is not None and RS is not None
        # paused: no ReplicaSet yet, and the stored (defaulted) template gives the hash
        await client.create(DEPLOY, deployment(2, paused=True))
        template = get_d(client)["spec"]["template"]
        taken = f"web-{hashing.compute_hash(template, None)}"
        foreign = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": taken, "namespace": "default"},
                   "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "other"}},
                            "template": {"metadata": {"labels": {"app": "other"}},
                                         "spec": {"containers": [{"name": "c", "image": "img:z"}]}}}}
        await client.create(RS, foreign)
        assert set(rss(client)) == {taken}
        await edit(client, lambda o: o["spec"].__setitem__("paused", False))
        await until(lambda: complete(client, 2))
        status = get_d(client)["status"]
        assert status.get("collisionCount") == 1, (status, list(rss(client)))
        ours = f"web-{hashing.compute_hash(template, 1)}"
        assert set(rss(client)) == {taken, ours}
        assert not rss(client)[taken]["metadata"].get("ownerReferences")  # never adopted
        assert rss(client)[ours]["spec"]["replicas"] == 2
        assert all(p["metadata"]["labels"]["pod-template-hash"] == ours[4:] for p in kubelet.live())
    run_with(tmp_path, scenario)
