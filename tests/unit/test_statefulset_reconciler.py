"""The StatefulSet controller (kubeproc.controllers.statefulset.reconciler) over a real
Registry, with a fake kubelet in the test that binds each new pod, marks it Running+Ready
through the status subresource after a short delay, and finishes graceful deletions: ordered
creation (claims before their pods), status counts, events, ordered scale-down, rolling update
in reverse ordinal order, adoption of a matching orphan and the failure path's events."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.statefulset.reconciler import StatefulSetController
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

POD = resources.by_kind("", "Pod")
PVC = resources.by_kind("", "PersistentVolumeClaim")
STS = resources.by_kind("apps", "StatefulSet")
REV = resources.by_kind("apps", "ControllerRevision")
HASH = "controller-revision-hash"
KUBELET_DELAY = 0.05  # seconds before the fake kubelet reports a pod ready / finishes a delete
Obj = dict[str, Any]


class Recorder:
    """What the watch showed, in order: (what, name) with what in pod-added, pod-ready,
    pod-terminating, pod-deleted, pvc-added."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []
        self.ready: set[str] = set()  # pod uids seen ready
        self.terminating: set[str] = set()

    def index(self, what: str, name: str, nth: int = 0) -> int:
        hits = [i for i, e in enumerate(self.log) if e == (what, name)]
        assert len(hits) > nth, f"{what} {name} not in {self.log}"
        return hits[nth]

    def names(self, what: str) -> list[str]:
        return [n for w, n in self.log if w == what]


async def fake_kubelet(client: LocalClient, rec: Recorder) -> None:
    """Binds new pods to n1 and makes them Running+Ready after KUBELET_DELAY; removes pods being
    deleted after KUBELET_DELAY (what the agent does once the containers stopped)."""
    assert POD is not None
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    async def start(name: str, uid: str) -> None:
        await asyncio.sleep(KUBELET_DELAY)

        def bind(p: Obj) -> Obj:
            if p["metadata"]["uid"] != uid or p["metadata"].get("deletionTimestamp"):
                raise errors.Conflict("replaced")
            p["spec"]["nodeName"] = "n1"
            return p

        def running(p: Obj) -> Obj:
            if p["metadata"]["uid"] != uid:
                raise errors.Conflict("replaced")
            p["status"]["phase"] = "Running"
            p["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                          "lastTransitionTime": "2026-01-01T00:00:00Z"}]
            return p
        try:
            await client.mutate(POD, "default", name, bind, subresource="binding")
            await client.mutate(POD, "default", name, running, subresource="status")
        except (errors.Conflict, errors.NotFound):
            pass

    async def finish(name: str, uid: str) -> None:
        await asyncio.sleep(KUBELET_DELAY)
        try:
            await client.delete(POD, "default", name, uid=uid, grace_period_seconds=0)
        except (errors.Conflict, errors.NotFound):
            pass

    def spawn(coro: Awaitable[None]) -> None:
        task = loop.create_task(coro)  # type: ignore[arg-type]
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    _, rv = client.list(POD)
    async for ev in client.watch_all(rv):
        kind = ev.resource.kind
        if kind == "PersistentVolumeClaim" and ev.type == "ADDED":
            rec.log.append(("pvc-added", ev.obj["metadata"]["name"]))
        if kind != "Pod":
            continue
        p, name = ev.obj, ev.obj["metadata"]["name"]
        uid = p["metadata"]["uid"]
        if ev.type == "ADDED":
            rec.log.append(("pod-added", name))
            spawn(start(name, uid))
        elif ev.type == "DELETED":
            rec.log.append(("pod-deleted", name))
        if ev.type != "DELETED" and p["metadata"].get("deletionTimestamp") and uid not in rec.terminating:
            rec.terminating.add(uid)
            rec.log.append(("pod-terminating", name))
            spawn(finish(name, uid))
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (p.get("status") or {}).get("conditions") or ())
        if ready and uid not in rec.ready and not p["metadata"].get("deletionTimestamp"):
            rec.ready.add(uid)
            rec.log.append(("pod-ready", name))


def stateful_set(replicas: int, *, claims: bool = True, image: str = "redis:7") -> Obj:
    spec: Obj = {"replicas": replicas, "serviceName": "web",
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": image}]}}}
    if claims:
        spec["volumeClaimTemplates"] = [{"metadata": {"name": "data"},
                                         "spec": {"accessModes": ["ReadWriteOnce"],
                                                  "resources": {"requests": {"storage": "1Gi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


Scenario = Callable[[Registry, LocalClient, Recorder], Awaitable[None]]


def run_with(tmp: Path, scenario: Scenario) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            kcm = LocalClient(reg, "kube-controller-manager")
            ctl = StatefulSetController(kcm, EventRecorder(kcm, "statefulset-controller"))
            client, rec = LocalClient(reg, "test"), Recorder()
            tasks = [asyncio.create_task(fake_kubelet(LocalClient(reg, "kubelet"), rec)),
                     asyncio.create_task(ctl.run())]
            await asyncio.sleep(0)  # the kubelet's watch starts before the scenario writes
            try:
                await scenario(reg, client, rec)
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with pytest.raises(asyncio.CancelledError):
                        await t
    asyncio.run(body())


def live_pods(client: LocalClient) -> dict[str, Obj]:
    assert POD is not None
    return {p["metadata"]["name"]: p for p in client.list(POD, "default")[0]
            if not p["metadata"].get("deletionTimestamp")}


def sts_status(client: LocalClient) -> Obj:
    assert STS is not None
    got = client.get(STS, "default", "web")
    assert got is not None
    return got.get("status") or {}


def ready_set(client: LocalClient, n: int) -> Callable[[], bool]:
    def check() -> bool:
        s = sts_status(client)
        return (s.get("replicas") == n and s.get("readyReplicas") == n and s.get("availableReplicas") == n
                and s.get("currentRevision") == s.get("updateRevision") and s.get("currentReplicas") == n)
    return check


def messages(reg: Registry, reason: str) -> list[str]:
    return [e["message"] for e in stored_events(reg) if e["reason"] == reason
            and e["involvedObject"]["kind"] == "StatefulSet"]


async def scale(client: LocalClient, replicas: int) -> None:
    assert STS is not None

    def edit(obj: Obj) -> Obj:
        obj["spec"]["replicas"] = replicas
        return obj
    await client.mutate(STS, "default", "web", edit)


async def three_ready(client: LocalClient) -> Obj:
    assert STS is not None
    created = await client.create(STS, stateful_set(3))
    await until(ready_set(client, 3))
    return created


def test_ordered_ready_creates_claims_then_pods_in_order(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        created = await three_ready(client)
        assert rec.names("pod-added") == ["web-0", "web-1", "web-2"]
        for n in range(3):
            assert rec.index("pvc-added", f"data-web-{n}") < rec.index("pod-added", f"web-{n}")
            if n:  # OrderedReady: the next pod only after the previous one is Running+Ready
                assert rec.index("pod-ready", f"web-{n - 1}") < rec.index("pod-added", f"web-{n}")
        status = sts_status(client)
        assert status["observedGeneration"] == 1
        assert (status["replicas"], status["readyReplicas"], status["currentReplicas"],
                status["updatedReplicas"], status["availableReplicas"]) == (3, 3, 3, 3, 3)
        assert status["currentRevision"].startswith("web-")
        pods = live_pods(client)
        for n in range(3):
            p = pods[f"web-{n}"]
            assert p["spec"]["hostname"] == f"web-{n}" and p["spec"]["subdomain"] == "web"
            assert p["metadata"]["labels"][HASH] == status["currentRevision"]
            assert p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == f"web-{n}"
            assert p["metadata"]["ownerReferences"] == [
                {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web",
                 "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
            assert {"name": "data", "persistentVolumeClaim": {"claimName": f"data-web-{n}"}} \
                in p["spec"]["volumes"]
        assert PVC is not None and REV is not None
        claim = client.get(PVC, "default", "data-web-1")
        assert claim is not None and claim["metadata"]["labels"] == {"app": "web"}
        assert [r["metadata"]["name"] for r in client.list(REV, "default")[0]] == [status["currentRevision"]]
        await until(lambda: len(messages(reg, "SuccessfulCreate")) == 6)
        assert sorted(messages(reg, "SuccessfulCreate")) == sorted(
            [f"create Pod web-{n} in StatefulSet web successful" for n in range(3)]
            + [f"create Claim data-web-{n} Pod web-{n} in StatefulSet web success" for n in range(3)])
    run_with(tmp_path, scenario)


def test_scale_down_removes_highest_ordinal_first_one_at_a_time(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        await three_ready(client)
        await scale(client, 1)
        await until(lambda: set(live_pods(client)) == {"web-0"} and ready_set(client, 1)())
        assert rec.names("pod-terminating") == ["web-2", "web-1"]
        # web-1 is condemned only once web-2 is gone for good
        assert rec.index("pod-deleted", "web-2") < rec.index("pod-terminating", "web-1")
        await until(lambda: len(messages(reg, "SuccessfulDelete")) == 2)
        assert messages(reg, "SuccessfulDelete") == [
            "delete Pod web-2 in StatefulSet web successful", "delete Pod web-1 in StatefulSet web successful"]
        assert PVC is not None  # the default retention policy keeps the claims
        assert len(client.list(PVC, "default")[0]) == 3
    run_with(tmp_path, scenario)


def test_template_change_rolls_pods_in_reverse_order(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        await three_ready(client)
        old_rev = sts_status(client)["currentRevision"]
        assert STS is not None and REV is not None

        def edit(obj: Obj) -> Obj:
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "redis:7.2"
            return obj
        await client.mutate(STS, "default", "web", edit)

        def rolled() -> bool:
            s = sts_status(client)
            pods = live_pods(client)
            return (s.get("updateRevision") not in (None, old_rev) and ready_set(client, 3)()
                    and len(pods) == 3 and all(p["metadata"]["labels"][HASH] == s["updateRevision"]
                                               for p in pods.values()))
        await until(rolled)
        new_rev = sts_status(client)["updateRevision"]
        assert rec.names("pod-terminating") == ["web-2", "web-1", "web-0"]
        # one at a time: the next victim only after the previous replacement is ready again
        for hi, lo in (("web-2", "web-1"), ("web-1", "web-0")):
            assert rec.index("pod-ready", hi, 1) < rec.index("pod-terminating", lo)
        pods = live_pods(client)
        assert all(p["spec"]["containers"][0]["image"] == "redis:7.2" for p in pods.values())
        assert sorted(r["metadata"]["name"] for r in client.list(REV, "default")[0]) == sorted([old_rev, new_rev])
        status = sts_status(client)
        assert (status["currentRevision"], status["updatedReplicas"], status["observedGeneration"]) == \
            (new_rev, 3, 2)
    run_with(tmp_path, scenario)


def test_matching_orphan_pod_is_adopted(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        assert POD is not None and STS is not None
        orphan = await client.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "redis:7"}]}})
        sts = stateful_set(1, claims=False)
        sts["spec"]["updateStrategy"] = {"type": "OnDelete"}  # else the unlabelled pod is rolled
        created = await client.create(STS, sts)
        await until(lambda: sts_status(client).get("readyReplicas") == 1)
        web0 = live_pods(client)["web-0"]
        assert web0["metadata"]["uid"] == orphan["metadata"]["uid"]
        assert web0["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert web0["metadata"]["ownerReferences"][0]["controller"] is True
        # identity repair: the adopted pod gets the pod-name label and a revision through an update
        assert web0["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "web-0"
        assert "update Pod web-0 in StatefulSet web successful" in messages(reg, "SuccessfulUpdate")
    run_with(tmp_path, scenario)


def test_failed_pod_create_reports_a_warning_and_retries(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        assert STS is not None
        bad = stateful_set(1, claims=False)
        bad["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 99999}]
        await client.create(STS, bad)
        got = await until(lambda: messages(reg, "FailedCreate"))
        assert got[0].startswith("create Pod web-0 in StatefulSet web failed error: ")
        assert not live_pods(client)

        def fix(obj: Obj) -> Obj:
            obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 6379}]
            return obj
        await client.mutate(STS, "default", "web", fix)
        await until(ready_set(client, 1))
    run_with(tmp_path, scenario)


def test_stale_claim_removal_unblocks_recreation_under_when_scaled_delete(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, rec: Recorder) -> None:
        assert STS is not None and PVC is not None
        sts = stateful_set(2)
        sts["spec"]["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Delete"}
        await client.create(STS, sts)
        await until(ready_set(client, 2))
        old_web1 = live_pods(client)["web-1"]["metadata"]["uid"]
        await scale(client, 1)
        await until(lambda: ("pod-deleted", "web-1") in rec.log and ready_set(client, 1)())
        claim = client.get(PVC, "default", "data-web-1")
        assert claim is not None  # condemned: handed to the pod for the garbage collector
        assert [(r["kind"], r["name"], r["uid"]) for r in claim["metadata"]["ownerReferences"]] == \
            [("Pod", "web-1", old_web1)]
        await scale(client, 2)
        await until(lambda: sts_status(client).get("observedGeneration") == 3)
        assert "web-1" not in live_pods(client)  # the stale claim blocks the new web-1
        await client.delete(PVC, "default", "data-web-1")  # what the garbage collector does

        def unprotect(obj: Obj) -> Obj:  # and the pvc-protection controller, the pod being gone
            obj["metadata"]["finalizers"] = []
            return obj
        await client.mutate(PVC, "default", "data-web-1", unprotect)
        await until(ready_set(client, 2))
        assert rec.names("pvc-added").count("data-web-1") == 2
        assert rec.index("pvc-added", "data-web-1", 1) < rec.index("pod-added", "web-1", 1)
    run_with(tmp_path, scenario)
