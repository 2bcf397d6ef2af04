"""The scheduler loop (kubeproc.controllers.scheduler.reconciler) over a real Registry: binding
with PodScheduled=True and a Scheduled event, FailedScheduling with the plan's message and the
PodScheduled=False/Unschedulable condition, requeue on node and freed-resource changes, the
assume cache (no overcommit), and pods that are not the default scheduler's.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from kubeproc.agent.node import MachineInfo, node_object
from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.scheduler.reconciler import Scheduler, update_condition
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

POD = resources.by_kind("", "Pod")
NODE = resources.by_kind("", "Node")
GiB = 1024 ** 3
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def node(name: str, cpus: int, labels: dict[str, str] | None = None) -> dict[str, Any]:
    n = node_object(name, MachineInfo(num_cpus=cpus, memory_bytes=8 * GiB, disk_bytes=100 * GiB),
                    pod_cidr="10.244.0.0/24", addresses=["10.0.0.1"], kubelet_version="v1.33.0",
                    now=NOW)
    n["metadata"]["labels"].update(labels or {})
    return n


def pod(name: str, cpu: str = "100m", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu}}}], **spec}}


async def create_ready_node(client: LocalClient, n: dict[str, Any]) -> None:
    """Create a node with its status and lift the not-ready taint admission puts on new nodes
    (upstream the node lifecycle controller does that once the node reports Ready)."""
    assert NODE is not None
    want = copy.deepcopy(n["status"])
    await client.create(NODE, copy.deepcopy(n))

    def status(obj: dict[str, Any]) -> dict[str, Any]:
        obj["status"] = want  # kubeproc's create drops a Node's status (upstream keeps it)
        return obj
    await client.mutate(NODE, "", n["metadata"]["name"], status, subresource="status")

    def untaint(obj: dict[str, Any]) -> dict[str, Any]:
        obj["spec"]["taints"] = [t for t in obj["spec"].get("taints") or ()
                                 if t.get("key") != "node.kubernetes.io/not-ready"]
        return obj
    await client.mutate(NODE, "", n["metadata"]["name"], untaint)


Scenario = Callable[[Registry, LocalClient], Awaitable[None]]


def run_with_scheduler(tmp: Path, nodes: list[dict[str, Any]], scenario: Scenario,
                       **kw: Any) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            client = LocalClient(reg, "test")
            assert NODE is not None
            for n in nodes:
                await create_ready_node(client, n)
            sched = Scheduler(LocalClient(reg, "default-scheduler"),
                              EventRecorder(LocalClient(reg, "default-scheduler"),
                                            "default-scheduler"),
                              **{"initial_backoff": 0.01, "max_backoff": 0.05, **kw})
            task = asyncio.create_task(sched.run())
            try:
                await scenario(reg, client)
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    asyncio.run(body())


def get_pod(client: LocalClient, name: str) -> dict[str, Any]:
    assert POD is not None
    got = client.get(POD, "default", name)
    assert got is not None
    return got


def condition(p: dict[str, Any], ctype: str = "PodScheduled") -> dict[str, Any] | None:
    return next((c for c in (p.get("status") or {}).get("conditions") or ()
                 if c.get("type") == ctype), None)


def bound_to(client: LocalClient, name: str) -> str | None:
    p = get_pod(client, name)
    c = condition(p)
    if c is not None and c["status"] == "True":
        return p["spec"].get("nodeName")
    return None


def events_for(reg: Registry, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in stored_events(reg)
            if e["involvedObject"].get("name") == name and e["reason"] == reason]


def test_fitting_pod_is_bound(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        created = await client.create(POD, pod("web"))
        assert await until(lambda: bound_to(client, "web")) == "n1"
        ev = (await until(lambda: events_for(reg, "web", "Scheduled")))[0]
        assert ev["message"] == "Successfully assigned default/web to n1"
        assert ev["type"] == "Normal" and ev["reportingComponent"] == "default-scheduler"
        assert ev["involvedObject"]["uid"] == created["metadata"]["uid"]
        cond = condition(get_pod(client, "web"))
        assert cond is not None and cond["lastTransitionTime"] and "reason" not in cond
    run_with_scheduler(tmp_path, [node("n1", 4)], scenario)


def test_too_big_pod_waits_for_a_bigger_node(tmp_path: Path) -> None:
    msg = ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: "
           "1 No preemption victims found for incoming pod.")

    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None and NODE is not None
        await client.create(POD, pod("big", cpu="1000"))
        ev = (await until(lambda: events_for(reg, "big", "FailedScheduling")))[0]
        assert ev["type"] == "Warning" and ev["message"] == msg
        cond = await until(lambda: condition(get_pod(client, "big")))
        assert (cond["status"], cond["reason"], cond["message"]) == ("False", "Unschedulable", msg)
        assert get_pod(client, "big")["status"]["phase"] == "Pending"
        await create_ready_node(client, node("huge", 2000))
        assert await until(lambda: bound_to(client, "big")) == "huge"
    run_with_scheduler(tmp_path, [node("n1", 4)], scenario)


def test_node_selector_mismatch(tmp_path: Path) -> None:
    msg = ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
           "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.")

    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None and NODE is not None
        await client.create(POD, pod("picky", nodeSelector={"disk": "ssd"}))
        ev = (await until(lambda: events_for(reg, "picky", "FailedScheduling")))[0]
        assert ev["message"] == msg

        def label(n: dict[str, Any]) -> dict[str, Any]:
            n["metadata"]["labels"]["disk"] = "ssd"
            return n
        await client.mutate(NODE, "", "n1", label)  # a node change requeues the pod
        assert await until(lambda: bound_to(client, "picky")) == "n1"
    run_with_scheduler(tmp_path, [node("n1", 4)], scenario)


def test_assumed_pods_prevent_overcommit_until_freed(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        await asyncio.gather(client.create(POD, pod("a", cpu="1500m")),
                             client.create(POD, pod("b", cpu="1500m")))
        first = await until(lambda: next((n for n in ("a", "b") if bound_to(client, n)), None))
        other = "b" if first == "a" else "a"
        await until(lambda: events_for(reg, other, "FailedScheduling"))
        assert get_pod(client, other)["spec"].get("nodeName") is None

        def finish(p: dict[str, Any]) -> dict[str, Any]:
            p["status"]["phase"] = "Succeeded"
            return p
        await client.mutate(POD, "default", first, finish, subresource="status")
        assert await until(lambda: bound_to(client, other)) == "n1"  # a terminal pod frees cpu
    run_with_scheduler(tmp_path, [node("n1", 2)], scenario)


def test_other_schedulers_pods_are_left_alone(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        await client.create(POD, pod("theirs", schedulerName="my-scheduler"))
        await client.create(POD, pod("ours"))
        await until(lambda: bound_to(client, "ours"))  # the scheduler has caught up
        assert get_pod(client, "theirs")["spec"].get("nodeName") is None
        assert not events_for(reg, "theirs", "FailedScheduling")
    run_with_scheduler(tmp_path, [node("n1", 4)], scenario)


def test_no_nodes_message(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        await client.create(POD, pod("lonely"))
        ev = (await until(lambda: events_for(reg, "lonely", "FailedScheduling")))[0]
        assert ev["message"] == "no nodes available to schedule pods"
        await create_ready_node(client, node("n1", 1))
        assert await until(lambda: bound_to(client, "lonely")) == "n1"
    run_with_scheduler(tmp_path, [], scenario)


@pytest.mark.parametrize("old,new,changed,kept_time", [
    (None, {"type": "PodScheduled", "status": "True"}, True, False),
    ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m",
      "lastProbeTime": None, "lastTransitionTime": "T0"},
     {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m"},
     False, True),
    ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m",
      "lastProbeTime": None, "lastTransitionTime": "T0"},
     {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m2"},
     True, True),
    ({"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "m",
      "lastProbeTime": None, "lastTransitionTime": "T0"},
     {"type": "PodScheduled", "status": "True"}, True, False),
], ids=["added", "unchanged-no-write", "message-changes-keeps-time", "status-flips-moves-time"])
def test_update_condition(old: dict[str, Any] | None, new: dict[str, Any], changed: bool,
                          kept_time: bool) -> None:
    status: dict[str, Any] = {"conditions": [old] if old else []}
    assert update_condition(status, new, "T1") is changed
    got = status["conditions"][0]
    assert got["lastTransitionTime"] == ("T0" if kept_time else "T1")
    assert got["status"] == new["status"] and got.get("message") == new.get("message")
    assert len(status["conditions"]) == 1


def test_terminating_pods_hold_their_resources(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        await client.create(POD, pod("old", cpu="2"))
        await until(lambda: bound_to(client, "old"))
        await client.delete(POD, "default", "old")  # graceful: it stays, terminating
        assert get_pod(client, "old")["metadata"].get("deletionTimestamp")
        await client.create(POD, pod("new", cpu="2"))
        ev = (await until(lambda: events_for(reg, "new", "FailedScheduling")))[0]
        assert ev["message"].startswith("0/1 nodes are available: 1 Insufficient cpu.")
        assert get_pod(client, "new")["spec"].get("nodeName") is None
    run_with_scheduler(tmp_path, [node("n1", 2)], scenario)


def test_bind_is_assumed_before_the_watch_reports_it(tmp_path: Path) -> None:
    async def body() -> tuple[str | None, str | None]:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert POD is not None
            await create_ready_node(client, node("n1", 2))
            await client.create(POD, pod("a", cpu="1500m"))
            await client.create(POD, pod("b", cpu="1500m"))
            sched = Scheduler(LocalClient(reg, "default-scheduler"),
                              EventRecorder(LocalClient(reg, "s"), "default-scheduler"))
            nodes, _ = client.list(NODE)
            pods, _ = client.list(POD)
            for n in nodes:
                sched._observe_node(n, False)
            for p in pods:
                sched._observe_pod(p, False)
            # no watch runs: only the scheduler's own assumption tells it "a" took the cpu
            await sched._reconcile(("default", "a"))
            await sched._reconcile(("default", "b"))
            sched.queue.close()
            return get_pod(client, "a")["spec"].get("nodeName"), \
                get_pod(client, "b")["spec"].get("nodeName")
    assert asyncio.run(body()) == ("n1", None)


def test_unschedulable_pods_are_retried_without_events(tmp_path: Path) -> None:
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        await client.create(POD, pod("big", cpu="1000"))
        # podMaxInUnschedulablePodsDuration: retried anyway; the identical event is counted
        ev = (await until(lambda: [e for e in events_for(reg, "big", "FailedScheduling")
                                   if e["count"] >= 2]))[0]
        assert len(events_for(reg, "big", "FailedScheduling")) == 1
        assert ev["firstTimestamp"] <= ev["lastTimestamp"]
    run_with_scheduler(tmp_path, [node("n1", 1)], scenario, unschedulable_flush=0.05)


def test_binding_sets_node_name_and_pod_scheduled_in_one_write(tmp_path: Path) -> None:
    # storage.go assignPod: one update (one watch event) carries both, as a Binding does
    async def scenario(reg: Registry, client: LocalClient) -> None:
        assert POD is not None
        created = await client.create(POD, pod("web"))
        seen: list[dict[str, Any]] = []

        async def watch() -> None:
            async for ev in client.watch_all(int(created["metadata"]["resourceVersion"])):
                if ev.resource.kind == "Pod" and ev.obj["metadata"]["name"] == "web":
                    seen.append(ev.obj)
        task = asyncio.create_task(watch())
        try:
            assert await until(lambda: bound_to(client, "web")) == "n1"
            await until(lambda: seen)
        finally:
            task.cancel()
        first = seen[0]
        assert first["spec"]["nodeName"] == "n1"
        assert (condition(first) or {}).get("status") == "True"
        assert len(seen) == 1  # no second (status) write for the condition
    run_with_scheduler(tmp_path, [node("n1", 4)], scenario)


def _seeded_scheduler(reg: Registry, client: LocalClient) -> Scheduler:
    """A scheduler whose cache holds the stored nodes and pods (what its watch would bring)."""
    assert POD is not None and NODE is not None
    sched = Scheduler(LocalClient(reg, "default-scheduler"),
                      EventRecorder(LocalClient(reg, "s"), "default-scheduler"))
    for n in client.list(NODE)[0]:
        sched._observe_node(n, False)
    for p in client.list(POD)[0]:
        sched._observe_pod(p, False)
    return sched


async def _one_pod_on_one_node(reg: Registry, cpu: str = "100m") -> tuple[LocalClient, Scheduler]:
    """Node n1 (4 CPUs, Ready), pod default/a, and a scheduler seeded with both."""
    client = LocalClient(reg, "test")
    await create_ready_node(client, node("n1", 4))
    await client.create(POD, pod("a", cpu=cpu))
    return client, _seeded_scheduler(reg, client)


def test_a_failed_binding_forgets_the_assumed_pod(tmp_path: Path) -> None:
    """schedule_one.go: the scheduling cycle assumes the pod and goes on; its binding cycle runs
    apart, and when the binding fails the assumption goes (ForgetPod), freeing the node."""
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            assert POD is not None and NODE is not None
            client, sched = await _one_pod_on_one_node(reg, cpu="1")
            await sched._reconcile(("default", "a"))
            assert ("default", "a") in sched._binding
            assert sched.infos["n1"].requested.get("cpu") == 1000  # assumed before it is bound
            await sched._reconcile(("default", "a"))  # queued again meanwhile: not scheduled twice

            def elsewhere(p: dict[str, Any]) -> dict[str, Any]:
                p["spec"]["nodeName"] = "n2"  # someone else binds it first
                return p
            await client.mutate(POD, "default", "a", elsewhere, subresource="binding")
            await asyncio.gather(*sched._binding.values())
            assert sched._binding == {} and sched.infos == {}  # the assumption is forgotten
            assert client.get(POD, "default", "a")["spec"]["nodeName"] == "n2"
    asyncio.run(body())


def test_a_pod_replaced_while_its_binding_runs_is_scheduled_again(tmp_path: Path) -> None:
    """Events for an assumed pod wait for its binding cycle; when the binding is refused because
    the pod was replaced (uid precondition), the new pod goes back to the queue."""
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            assert POD is not None
            client, sched = await _one_pod_on_one_node(reg)
            await sched._reconcile(("default", "a"))
            await client.delete(POD, "default", "a", grace_period_seconds=0)
            await client.create(POD, pod("a"))  # same name, new uid, unbound
            for p in client.list(POD)[0]:
                sched._observe_pod(p, False)  # held back: its binding cycle runs
            await asyncio.gather(*sched._binding.values())
            assert client.get(POD, "default", "a")["spec"].get("nodeName") is None
            # back in the queue after the pod's backoff (a failed cycle is an attempt)
            assert ("default", "a") in sched.pending and sched._attempts[("default", "a")][0] == 1
            assert 0 < sched._backoff_left(("default", "a")) <= sched.initial_backoff
            assert sched.infos == {}
            await until(lambda: len(sched.queue) == 1, 5)
    asyncio.run(body())


def test_a_binding_refused_for_a_pod_whose_deletion_is_being_written_backs_off(tmp_path: Path) -> None:
    """The watch (and the committed store) still show a pod whose deletion is staged: the
    binding finds it gone (NotFound), the pod looks schedulable again. Each such cycle is an
    attempt with its backoff, so the scheduler does not spin on it until the deletion lands."""
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            assert POD is not None
            client, sched = await _one_pod_on_one_node(reg)
            key = await sched.queue.get()  # as the runner takes it
            assert key == ("default", "a")
            await sched._reconcile(key)
            sched.queue.done(key)
            committed = reg.store.stage(POD.key, "default", "a", None)  # not yet written
            assert reg.store.current(POD.key, "default", "a") is None
            assert client.get(POD, "default", "a") is not None
            await asyncio.gather(*sched._binding.values())
            assert sched._attempts[key][0] == 1 and sched._backoff_left(key) > 0
            assert len(sched.queue) == 0  # not retried at once
            await committed
            sched._observe_pod(client.get(POD, "default", "a") or {"metadata": {"namespace": "default", "name": "a"}},
                               deleted=True)
            assert key not in sched.pending and key not in sched._attempts
    asyncio.run(body())


def test_node_infos_follow_the_cache_incrementally(tmp_path: Path) -> None:
    # cache.go keeps NodeInfo aggregates in step with every add/update/remove/assume: after
    # each event the incremental infos equal infos rebuilt from the bound pods.
    from kubeproc.controllers.scheduler.nodeinfo import build_infos

    async def body() -> None:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert POD is not None and NODE is not None
            await create_ready_node(client, node("n1", 4))
            for name, cpu in (("a", "1500m"), ("b", "1"), ("c", "500m")):
                await client.create(POD, pod(name, cpu=cpu))
            sched = _seeded_scheduler(reg, client)

            def check(cpu_by_node: dict[str, int]) -> None:
                assert sched.infos == build_infos(sched.bound.values())
                assert {n: i.requested.get("cpu", 0) for n, i in sched.infos.items()} \
                    == cpu_by_node

            check({})
            for name in ("a", "b", "c"):
                await sched._reconcile(("default", name))  # assumed at once
            check({"n1": 3000})
            await asyncio.gather(*sched._binding.values())  # the binding cycles, in their tasks
            check({"n1": 3000})
            for p in client.list(POD)[0]:  # the watch catches up with the bindings
                sched._observe_pod(p, False)
            check({"n1": 3000})

            def finish(p: dict[str, Any]) -> dict[str, Any]:
                p["status"]["phase"] = "Succeeded"
                return p
            done = await client.mutate(POD, "default", "a", finish, subresource="status")
            stale = copy.deepcopy(done)
            sched._observe_pod(done, False)
            check({"n1": 1500})  # a terminal pod frees its requests
            stale["metadata"]["resourceVersion"] = "1"
            stale["status"]["phase"] = "Running"
            sched._observe_pod(stale, False)  # older than what the cache holds: ignored
            check({"n1": 1500})

            await client.delete(POD, "default", "b")  # graceful: terminating, still counts
            sched._observe_pod(get_pod(client, "b"), False)
            check({"n1": 1500})

            moved = copy.deepcopy(get_pod(client, "c"))  # before its Node is known
            moved["spec"]["nodeName"] = "n2"
            moved["metadata"]["resourceVersion"] = str(int(
                moved["metadata"]["resourceVersion"]) + 100)
            sched._observe_pod(moved, False)
            check({"n1": 1000, "n2": 500})

            sched._observe_pod(moved, True)
            check({"n1": 1000})
            sched._observe_pod(get_pod(client, "b"), True)
            check({})
            assert set(sched.bound) == {("default", "a")}
            sched.queue.close()
    asyncio.run(body())
