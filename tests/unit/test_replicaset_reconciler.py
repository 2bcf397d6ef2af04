"""The ReplicaSet controller and ReplicationController manager
(kubeproc.controllers.replicaset.reconciler) over a real Registry: pods created with
generateName and controllerRefs, events, scale down by upstream's deletion ranking and
pod-deletion-cost, adoption and release, status counts following the pods' Ready condition,
ReplicaFailure on create errors, and an RC scaled through the scale subresource."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.replicaset.reconciler import ReplicaSetController, replication_manager
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry import subresources
from kubeproc.registry.registry import Registry, WriteOptions
from tests.unit.test_events import cluster, stored_events, until

POD = resources.by_kind("", "Pod")
RS = resources.by_kind("apps", "ReplicaSet")
RC = resources.by_kind("", "ReplicationController")
NAME_RE = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]{5}$")
Scenario = Callable[[Registry, LocalClient, ReplicaSetController], Awaitable[None]]


def template(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"labels": labels or {"app": "web", "tier": "fe"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def replica_set(replicas: int, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": template(), **spec}}


def run_with(tmp: Path, scenario: Scenario, rc: bool = False, **kw: Any) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            component = "replication-controller" if rc else "replicaset-controller"
            ctl_client = LocalClient(reg, component)
            recorder = EventRecorder(ctl_client, component)
            ctl = (replication_manager(ctl_client, recorder, **kw) if rc
                   else ReplicaSetController(ctl_client, recorder, **kw))
            task = asyncio.create_task(ctl.run())
            try:
                await scenario(reg, LocalClient(reg, "test"), ctl)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    asyncio.run(body())


def pods(client: LocalClient, active_only: bool = True) -> list[dict[str, Any]]:
    assert POD is not None
    items = client.list(POD, "default")[0]
    if active_only:
        items = [p for p in items if not p["metadata"].get("deletionTimestamp")]
    return sorted(items, key=lambda p: p["metadata"]["name"])


def owned_by(p: dict[str, Any], uid: str) -> bool:
    return any(r.get("uid") == uid and r.get("controller")
               for r in p["metadata"].get("ownerReferences") or ())


def get(client: LocalClient, res: resources.Resource | None, name: str = "web") -> dict[str, Any]:
    assert res is not None
    got = client.get(res, "default", name)
    assert got is not None
    return got


def events(reg: Registry, reason: str) -> list[dict[str, Any]]:
    return [e for e in stored_events(reg) if e["reason"] == reason]


async def scale(client: LocalClient, res: resources.Resource | None, replicas: int) -> None:
    assert res is not None

    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        obj["spec"]["replicas"] = replicas
        return obj
    await client.mutate(res, "default", "web", edit)


async def kubelet(client: LocalClient, name: str, *, node: str = "", phase: str = "Running",
                  ready: bool = True) -> None:
    """What the scheduler and kubelet would write: a binding, then the pod's status."""
    assert POD is not None
    if node:
        def bind(obj: dict[str, Any]) -> dict[str, Any]:
            obj["spec"]["nodeName"] = node
            return obj
        await client.mutate(POD, "default", name, bind, subresource="binding")

    def status(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"]["phase"] = phase
        obj["status"]["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                        "lastTransitionTime": "2026-01-01T00:00:00Z"}]
        return obj
    await client.mutate(POD, "default", name, status, subresource="status")


async def annotate(client: LocalClient, name: str, cost: str) -> None:
    assert POD is not None

    def edit(obj: dict[str, Any]) -> dict[str, Any]:
        obj["metadata"].setdefault("annotations", {})[
            "controller.kubernetes.io/pod-deletion-cost"] = cost
        return obj
    await client.mutate(POD, "default", name, edit)


def status_is(client: LocalClient, res: resources.Resource | None,
              want: dict[str, Any]) -> bool:
    status = get(client, res).get("status") or {}
    return all(status.get(k) == v for k, v in want.items())


def test_creates_pods_with_controller_refs_and_events(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        created = await client.create(RS, replica_set(3))
        uid = created["metadata"]["uid"]
        got = await until(lambda: len(pods(client)) == 3 and pods(client))
        for p in got:
            assert NAME_RE.match(p["metadata"]["name"]), p["metadata"]["name"]
            assert p["metadata"]["generateName"] == "web-"
            assert p["metadata"]["labels"] == {"app": "web", "tier": "fe"}
            assert p["metadata"]["ownerReferences"] == [
                {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid,
                 "controller": True, "blockOwnerDeletion": True}]
        await until(lambda: status_is(client, RS, {"replicas": 3, "fullyLabeledReplicas": 3,
                                                   "observedGeneration": 1}))
        status = get(client, RS)["status"]
        assert "readyReplicas" not in status and "availableReplicas" not in status
        evs = await until(lambda: len(events(reg, "SuccessfulCreate")) == 3
                          and events(reg, "SuccessfulCreate"))
        assert sorted(e["message"] for e in evs) == sorted(
            f"Created pod: {p['metadata']['name']}" for p in got)
        assert all(e["involvedObject"]["kind"] == "ReplicaSet" and e["type"] == "Normal"
                   and e["source"] == {"component": "replicaset-controller"} for e in evs)
        # level-triggered: another pass in the steady state changes nothing
        rv = get(client, RS)["metadata"]["resourceVersion"]
        await ctl._reconcile(("default", "web"))
        assert len(pods(client)) == 3 and get(client, RS)["metadata"]["resourceVersion"] == rv
    run_with(tmp_path, scenario)


def test_status_counts_follow_ready_condition(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        await client.create(RS, replica_set(2))
        got = await until(lambda: len(pods(client)) == 2 and pods(client))
        await kubelet(client, got[0]["metadata"]["name"], node="n1")
        await until(lambda: status_is(client, RS, {"replicas": 2, "readyReplicas": 1,
                                                   "availableReplicas": 1}))
        await kubelet(client, got[1]["metadata"]["name"], node="n1")
        await until(lambda: status_is(client, RS, {"readyReplicas": 2, "availableReplicas": 2}))
        await kubelet(client, got[0]["metadata"]["name"], ready=False)
        await until(lambda: status_is(client, RS, {"readyReplicas": 1, "availableReplicas": 1}))
    run_with(tmp_path, scenario)


def test_status_only_updates_are_batched_but_a_failed_pod_is_replaced_at_once(tmp_path: Path) -> None:
    """Readiness changes wait for the status batch (here an hour: never within the test); a pod
    that fails is an update manageReplicas acts on, so its replacement is created at once."""
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None and POD is not None
        await client.create(RS, replica_set(2))
        got = await until(lambda: len(pods(client)) == 2 and pods(client))
        await until(lambda: status_is(client, RS, {"replicas": 2}))
        await kubelet(client, got[0]["metadata"]["name"], node="n1")
        await until(lambda: bool(ctl.queue._batched))  # the Ready pod's update waits for the batch
        assert "readyReplicas" not in get(client, RS)["status"]

        def failed(obj: dict[str, Any]) -> dict[str, Any]:
            obj["status"]["phase"] = "Failed"
            return obj
        await client.mutate(POD, "default", got[1]["metadata"]["name"], failed, subresource="status")
        # the sync for the failure also counts the Ready pod: the status catches up with it
        await until(lambda: len(pods(client, active_only=False)) == 3)
        await until(lambda: status_is(client, RS, {"readyReplicas": 1}))
    run_with(tmp_path, scenario, status_batch=3600.0)


def test_min_ready_seconds_holds_back_available(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        await client.create(RS, replica_set(1, minReadySeconds=3600))
        got = await until(lambda: pods(client))
        # ready since "now": not available for an hour
        assert POD is not None

        def status(obj: dict[str, Any]) -> dict[str, Any]:
            from datetime import datetime, timezone
            obj["status"]["phase"] = "Running"
            obj["status"]["conditions"] = [{"type": "Ready", "status": "True",
                                            "lastTransitionTime": datetime.now(timezone.utc)
                                            .strftime("%Y-%m-%dT%H:%M:%SZ")}]
            return obj
        await client.mutate(POD, "default", got[0]["metadata"]["name"], status,
                            subresource="status")
        await until(lambda: status_is(client, RS, {"readyReplicas": 1}))
        assert "availableReplicas" not in get(client, RS)["status"]
    run_with(tmp_path, scenario)


def test_scale_down_deletes_unscheduled_and_not_ready_first(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        await client.create(RS, replica_set(3))
        names = [p["metadata"]["name"] for p in await until(lambda: len(pods(client)) == 3
                                                             and pods(client))]
        ready, pending, unscheduled = names
        await kubelet(client, ready, node="n1")
        await kubelet(client, pending, node="n1", phase="Pending", ready=False)
        await until(lambda: status_is(client, RS, {"readyReplicas": 1}))
        await scale(client, RS, 1)
        await until(lambda: [p["metadata"]["name"] for p in pods(client)] == [ready])
        await until(lambda: status_is(client, RS, {"replicas": 1, "readyReplicas": 1,
                                                   "observedGeneration": 2}))
        evs = await until(lambda: len(events(reg, "SuccessfulDelete")) == 2
                          and events(reg, "SuccessfulDelete"))
        assert sorted(e["message"] for e in evs) == sorted(
            [f"Deleted pod: {pending}", f"Deleted pod: {unscheduled}"])
        # the bound pod terminates gracefully (kubelet's job); the unbound one is gone at once
        left = {p["metadata"]["name"] for p in pods(client, active_only=False)}
        assert unscheduled not in left and pending in left
    run_with(tmp_path, scenario)


def test_scale_down_honours_pod_deletion_cost(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        await client.create(RS, replica_set(3))
        names = [p["metadata"]["name"] for p in await until(lambda: len(pods(client)) == 3
                                                             and pods(client))]
        for n in names:
            await kubelet(client, n, node="n1")
        await annotate(client, names[0], "100")
        await annotate(client, names[1], "50")
        await until(lambda: status_is(client, RS, {"readyReplicas": 3}))
        await scale(client, RS, 1)
        await until(lambda: [p["metadata"]["name"] for p in pods(client)] == [names[0]])
    run_with(tmp_path, scenario)


def test_orphan_adopted_and_relabelled_pod_released(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None and POD is not None
        orphan = await client.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "orphan", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        unrelated = await client.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "unrelated", "namespace": "default", "labels": {"app": "db"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        uid = (await client.create(RS, replica_set(2)))["metadata"]["uid"]
        await until(lambda: len([p for p in pods(client) if owned_by(p, uid)]) == 2)
        adopted = get(client, POD, "orphan")
        assert adopted["metadata"]["uid"] == orphan["metadata"]["uid"]
        assert adopted["metadata"]["ownerReferences"][0]["uid"] == uid
        assert "ownerReferences" not in get(client, POD, "unrelated")["metadata"]
        assert get(client, POD, "unrelated")["metadata"]["uid"] == unrelated["metadata"]["uid"]
        await until(lambda: status_is(client, RS, {"replicas": 2, "fullyLabeledReplicas": 1}))

        def relabel(obj: dict[str, Any]) -> dict[str, Any]:
            obj["metadata"]["labels"] = {"app": "other"}
            return obj
        await client.mutate(POD, "default", "orphan", relabel)
        await until(lambda: "ownerReferences" not in get(client, POD, "orphan")["metadata"])
        owned = await until(lambda: len([p for p in pods(client) if owned_by(p, uid)]) == 2
                            and [p for p in pods(client) if owned_by(p, uid)])
        assert all(NAME_RE.match(p["metadata"]["name"]) for p in owned)
        await until(lambda: status_is(client, RS, {"replicas": 2, "fullyLabeledReplicas": 2}))
        assert len(pods(client)) == 4  # the released pod lives on, unowned
    run_with(tmp_path, scenario)


def test_no_adoption_while_owner_is_deleting(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None and POD is not None
        rs_obj = replica_set(1)
        rs_obj["metadata"]["finalizers"] = ["example.com/hold"]
        uid = (await client.create(RS, rs_obj))["metadata"]["uid"]
        await until(lambda: len(pods(client)) == 1)
        await client.delete(RS, "default", "web")
        await until(lambda: get(client, RS)["metadata"].get("deletionTimestamp"))
        await client.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "orphan", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}})
        await until(lambda: "orphan" in ctl.pods.get("default", {}))
        await until(lambda: (ctl.owners[("default", "web")]["metadata"]
                             .get("deletionTimestamp")))
        await ctl._reconcile(("default", "web"))  # a pass that sees both: no adoption
        assert "ownerReferences" not in get(client, POD, "orphan")["metadata"]
        assert len([p for p in pods(client) if owned_by(p, uid)]) == 1
    run_with(tmp_path, scenario)


def test_create_error_sets_replica_failure_then_clears(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        await client.create(RS, replica_set(2, template=template(priorityClassName="nope")))

        def failure() -> dict[str, Any] | None:
            return next((c for c in get(client, RS).get("status", {}).get("conditions") or ()
                         if c["type"] == "ReplicaFailure"), None)
        cond = await until(failure)
        assert (cond["status"], cond["reason"]) == ("True", "FailedCreate")
        assert "no PriorityClass with name nope was found" in cond["message"]
        ev = (await until(lambda: events(reg, "FailedCreate")))[0]
        assert ev["type"] == "Warning" and ev["message"].startswith("Error creating: ")
        assert pods(client) == []

        def fix(obj: dict[str, Any]) -> dict[str, Any]:
            obj["spec"]["template"]["spec"].pop("priorityClassName")
            return obj
        await client.mutate(RS, "default", "web", fix)
        await until(lambda: len(pods(client)) == 2)
        await until(lambda: failure() is None and status_is(client, RS, {"replicas": 2}))
    run_with(tmp_path, scenario)


def test_replication_controller_map_selector_and_scale_subresource(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RC is not None
        rc = {"apiVersion": "v1", "kind": "ReplicationController",
              "metadata": {"name": "web", "namespace": "default"},
              "spec": {"replicas": 2, "selector": {"app": "web"}, "template": template()}}
        uid = (await client.create(RC, rc))["metadata"]["uid"]
        got = await until(lambda: len(pods(client)) == 2 and pods(client))
        for p in got:
            assert NAME_RE.match(p["metadata"]["name"])
            assert p["metadata"]["ownerReferences"] == [
                {"apiVersion": "v1", "kind": "ReplicationController", "name": "web", "uid": uid,
                 "controller": True, "blockOwnerDeletion": True}]
        await until(lambda: status_is(client, RC, {"replicas": 2, "fullyLabeledReplicas": 2,
                                                   "observedGeneration": 1}))
        # kubectl scale rc web --replicas=4: PUT .../replicationcontrollers/web/scale
        current = subresources.get_scale(reg, RC, "default", "web")
        current["spec"]["replicas"] = 4
        await subresources.update_scale(reg, RC, "default", "web", current,
                                        WriteOptions(field_manager="kubectl", subresource="scale"))
        await until(lambda: len(pods(client)) == 4)
        await until(lambda: subresources.get_scale(reg, RC, "default", "web")["status"] ==
                    {"replicas": 4, "selector": "app=web"})
        evs = events(reg, "SuccessfulCreate")
        assert evs and all(e["source"] == {"component": "replication-controller"}
                           and e["involvedObject"]["kind"] == "ReplicationController"
                           for e in evs)
    run_with(tmp_path, scenario, rc=True)


def test_burst_replicas_cap_spreads_creates_over_passes(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient, ctl: ReplicaSetController) -> None:
        assert RS is not None
        created: list[int] = []
        real_manage = ctl._manage

        async def counting(obj: dict[str, Any], owned: list[dict[str, Any]]) -> Any:
            before = len(pods(client))
            out = await real_manage(obj, owned)
            created.append(len(pods(client)) - before)
            return out
        ctl._manage = counting  # type: ignore[method-assign]
        await client.create(RS, replica_set(5))
        await until(lambda: sum(created) == 5)
        assert max(created) == 2 and len(pods(client)) == 5
    run_with(tmp_path, scenario, burst_replicas=2)
