"""The disruption controller loop (kubeproc.controllers.disruption.reconciler) over a real
Registry: a ReplicaSet's three Ready pods under a minAvailable 2 budget allow one disruption;
the eviction API then evicts one pod and refuses the second with upstream's 429; the status is
written only when it changes; percentage budgets use the controller's scale; a pod under two
budgets reports MultiplePodDisruptionBudgets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.disruption.reconciler import DisruptionController
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry import eviction
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

POD = resources.by_kind("", "Pod")
PDB = resources.by_kind("policy", "PodDisruptionBudget")
RS = resources.by_kind("apps", "ReplicaSet")
VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


def replicaset(replicas: int) -> dict[str, Any]:
    labels = {"app": "web"}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {
                         "containers": [{"name": "c", "image": "busybox"}]}}}}


def budget(name: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}, **spec}}


async def ready_pods(client: LocalClient, rs: dict[str, Any], names: list[str]) -> None:
    """Pods the ReplicaSet controls, Running and Ready (through the status subresource)."""
    assert POD is not None
    ref = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
           "uid": rs["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    for name in names:
        await client.create(POD, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"},
                         "ownerReferences": [ref]},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}})

        def running(p: dict[str, Any]) -> dict[str, Any]:
            p["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True"}]}
            return p
        await client.mutate(POD, "default", name, running, subresource="status")


def status(client: LocalClient, name: str = "web") -> dict[str, Any]:
    assert PDB is not None
    got = client.get(PDB, "default", name)
    assert got is not None
    return got.get("status") or {}


def settled(client: LocalClient, name: str = "web", **want: Any) -> Callable[[], bool]:
    return lambda: all(status(client, name).get(k) == v for k, v in want.items())


Scenario = Callable[[Registry, LocalClient], Awaitable[None]]


def run_with_controller(tmp: Path, scenario: Scenario) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            kcm = LocalClient(reg, "kube-controller-manager")
            ctrl = DisruptionController(kcm, EventRecorder(kcm, "controllermanager"))
            task = asyncio.create_task(ctrl.run())
            try:
                await scenario(reg, LocalClient(reg, "test"))
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    asyncio.run(body())


def test_min_available_budget_allows_one_eviction(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert RS is not None and PDB is not None and POD is not None
        rs = await client.create(RS, replicaset(3))
        await ready_pods(client, rs, ["web-a", "web-b", "web-c"])
        await client.create(PDB, budget(minAvailable=2))
        await until(settled(client, currentHealthy=3, desiredHealthy=2, expectedPods=3,
                            disruptionsAllowed=1, observedGeneration=1))
        cond = status(client)["conditions"][0]
        assert (cond["type"], cond["status"], cond["reason"]) == \
            ("DisruptionAllowed", "True", "SufficientPods")

        out = await eviction.evict(reg, "default", "web-a", {"kind": "Eviction"}, False)
        assert out["status"] == "Success"
        # the controller recounts: two healthy pods left, none may go
        await until(settled(client, currentHealthy=2, disruptionsAllowed=0))
        cond = status(client)["conditions"][0]
        assert (cond["status"], cond["reason"]) == ("False", "InsufficientPods")

        with pytest.raises(errors.TooManyRequests) as exc:
            await eviction.evict(reg, "default", "web-b", {"kind": "Eviction"}, False)
        assert exc.value.code == 429 and exc.value.message == VIOLATION
        pod_b = client.get(POD, "default", "web-b")
        assert pod_b is not None and not pod_b["metadata"].get("deletionTimestamp")
    run_with_controller(tmp_path, scenario)


def test_status_is_written_only_when_it_changes(tmp_path: Path) -> None:
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert RS is not None and PDB is not None and POD is not None
            rs = await client.create(RS, replicaset(2))
            await ready_pods(client, rs, ["web-a", "web-b"])
            await client.create(PDB, budget(minAvailable=1))
            kcm = LocalClient(reg, "kube-controller-manager")
            ctrl = DisruptionController(kcm, EventRecorder(kcm, "controllermanager"))
            for p in client.list(POD)[0]:  # no watch runs: the caches are filled by hand
                ctrl._observe_pod(p, False)

            def rv() -> int:
                got = client.get(PDB, "default", "web")
                assert got is not None
                return int(got["metadata"]["resourceVersion"])
            before = rv()
            await ctrl._reconcile(("default", "web"))
            written = rv()
            assert written > before and status(client)["disruptionsAllowed"] == 1
            transition = status(client)["conditions"][0]["lastTransitionTime"]
            await ctrl._reconcile(("default", "web"))  # nothing changed: no write
            assert rv() == written
            await ready_pods(client, rs, ["web-c"])
            ctrl._observe_pod(client.get(POD, "default", "web-c") or {}, False)
            await ctrl._reconcile(("default", "web"))
            assert rv() > written and status(client)["disruptionsAllowed"] == 2
            # still SufficientPods: the condition's transition time stays
            assert status(client)["conditions"][0]["lastTransitionTime"] == transition
            ctrl.queue.close()
    asyncio.run(body())


def test_percentage_uses_the_controller_scale(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert RS is not None and PDB is not None
        rs = await client.create(RS, replicaset(5))
        await ready_pods(client, rs, ["web-a", "web-b", "web-c", "web-d"])
        await client.create(PDB, budget(maxUnavailable="30%"))  # ceil(1.5) = 2 of 5
        await until(settled(client, expectedPods=5, desiredHealthy=3, currentHealthy=4,
                            disruptionsAllowed=1))
    run_with_controller(tmp_path, scenario)


def test_pod_under_two_budgets_is_reported(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert RS is not None and PDB is not None
        await client.create(PDB, budget("one", minAvailable=1))
        await client.create(PDB, budget("two", minAvailable=1))
        rs = await client.create(RS, replicaset(1))
        await ready_pods(client, rs, ["web-a"])
        await until(settled(client, "one", currentHealthy=1))
        await until(settled(client, "two", currentHealthy=1))
        ev = (await until(lambda: [e for e in stored_events(reg)
                                   if e["reason"] == "MultiplePodDisruptionBudgets"]))[0]
        assert ev["message"] == ('Pod "default"/"web-a" matches multiple PodDisruptionBudgets.  '
                                 'Chose "one" arbitrarily.')
        assert ev["type"] == "Warning" and ev["involvedObject"]["name"] == "web-a"
    run_with_controller(tmp_path, scenario)
