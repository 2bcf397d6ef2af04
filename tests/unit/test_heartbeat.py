"""Node registration and heartbeats (kubeproc.agent.heartbeat) over a real Registry: one Node
across restarts (uid kept, users' labels kept), status posted only when changed, the Lease
created owned by the Node and renewed, transient errors survived, the kubelet's node events,
and the condition NoSchedule taints (node lifecycle controller's doNoScheduleTaintingPass).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from kubeproc.agent.heartbeat import NodeHeartbeat, condition_taints
from kubeproc.agent.node import MachineInfo
from kubeproc.api import errors, resources
from kubeproc.client.local import LocalClient
from kubeproc.machinery.events import EventRecorder
from kubeproc.registry.registry import Registry
from tests.unit.test_events import cluster, stored_events, until

NODE = resources.by_kind("", "Node")
LEASE = resources.by_kind("coordination.k8s.io", "Lease")
GiB = 1024 ** 3


class Clock:
    def __init__(self) -> None:
        self.t = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.t += timedelta(milliseconds=1500)  # every reading moves time on
        return self.t


class Machine:
    def __init__(self, cpus: int = 4) -> None:
        self.cpus = cpus

    def __call__(self) -> MachineInfo:
        return MachineInfo(num_cpus=self.cpus, memory_bytes=8 * GiB, disk_bytes=100 * GiB,
                           kernel_version="6.1.0", os_image="Debian GNU/Linux 12 (bookworm)",
                           boot_id="b", machine_id="m")


def heartbeat(reg: Registry, machine: Machine | None = None, client: LocalClient | None = None,
              recorder: bool = False, **kw: Any) -> NodeHeartbeat:
    client = client or LocalClient(reg, "kubelet")
    rec = EventRecorder(LocalClient(reg, "kubelet"), "kubelet", "node1") if recorder else None
    return NodeHeartbeat(client, "node1", "/tmp", "10.244.0.0/24", "10.0.0.1",
                         "v1.33.0+kubeproc", recorder=rec, machine=machine or Machine(),
                         clock=Clock(), **kw)


def get(reg: Registry, res: Any, ns: str, name: str) -> dict[str, Any] | None:
    return LocalClient(reg, "t").get(res, ns, name)


def test_register_once_across_restarts(tmp_path: Path) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any], int]:
        async with cluster(tmp_path) as reg:
            first = await heartbeat(reg).register()

            def label(n: dict[str, Any]) -> dict[str, Any]:
                n["metadata"]["labels"]["team"] = "a"
                return n
            await LocalClient(reg, "user").mutate(NODE, "", "node1", label)
            second = await heartbeat(reg).register()  # a restarted agent adopts the Node
            assert NODE is not None
            return first, second, len(reg.list(NODE, None).items)
    first, second, count = asyncio.run(body())
    assert count == 1
    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["metadata"]["labels"]["team"] == "a"
    assert second["metadata"]["labels"]["kubernetes.io/hostname"] == "node1"
    status = second["status"]
    assert status["capacity"]["cpu"] == "4"
    assert status["nodeInfo"]["kubeletVersion"] == "v1.33.0+kubeproc"
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    assert second["spec"]["podCIDR"] == "10.244.0.0/24"
    # Ready, so the not-ready taint admission put on the new Node is gone (no empty list)
    assert "taints" not in second["spec"]


def test_status_posted_only_when_changed(tmp_path: Path) -> None:
    async def body() -> tuple[str, str, str, str]:
        async with cluster(tmp_path) as reg:
            machine = Machine(4)
            hb = heartbeat(reg, machine)
            node = await hb.register()
            unchanged = await hb.post_status()  # only heartbeat times would move
            machine.cpus = 8
            changed = await hb.post_status()
            assert unchanged is None and changed is not None
            return (node["metadata"]["resourceVersion"], node["status"]["capacity"]["cpu"],
                    changed["status"]["capacity"]["cpu"], changed["metadata"]["resourceVersion"])
    rv1, cpu1, cpu2, rv2 = asyncio.run(body())
    assert (cpu1, cpu2) == ("4", "8")
    assert int(rv2) > int(rv1)


def test_status_reported_when_due(tmp_path: Path) -> None:
    async def body() -> Any:
        async with cluster(tmp_path) as reg:
            hb = heartbeat(reg, status_every=0.0)  # nodeStatusReportFrequency elapsed
            await hb.register()
            return await hb.post_status()
    node = asyncio.run(body())
    assert node is not None


def test_lease_created_and_renewed(tmp_path: Path) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any], str]:
        async with cluster(tmp_path) as reg:
            hb = heartbeat(reg, renew_every=0.01)
            task = asyncio.create_task(hb.run())
            try:
                first = await until(lambda: get(reg, LEASE, "kube-node-lease", "node1"))
                later = await until(lambda: (lambda l: l if l and l["spec"]["renewTime"]
                                             != first["spec"]["renewTime"] else None)(
                    get(reg, LEASE, "kube-node-lease", "node1")))
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            node = get(reg, NODE, "", "node1")
            assert node is not None
            return first, later, node["metadata"]["uid"]
    first, later, uid = asyncio.run(body())
    assert first["spec"]["holderIdentity"] == "node1"
    assert first["spec"]["leaseDurationSeconds"] == 40
    assert first["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "node1", "uid": uid}]
    assert later["spec"]["renewTime"] > first["spec"]["renewTime"]
    assert later["metadata"]["uid"] == first["metadata"]["uid"]


class FlakyClient(LocalClient):
    """Fails the first `n` writes of a kind with a transient error."""

    def __init__(self, reg: Registry, kind: str, n: int) -> None:
        super().__init__(reg, "kubelet")
        self.kind, self.left = kind, n

    async def mutate(self, resource: Any, namespace: str, name: str, fn: Any,
                     subresource: str = "") -> dict[str, Any]:
        if resource.kind == self.kind and self.left > 0:
            self.left -= 1
            raise errors.InternalError("etcdserver: request timed out")
        return await super().mutate(resource, namespace, name, fn, subresource)


def test_transient_errors_are_retried(tmp_path: Path) -> None:
    async def body() -> tuple[int, bool]:
        async with cluster(tmp_path) as reg:
            hb = heartbeat(reg, renew_every=0.01)
            await hb.register()
            await hb.renew_lease()
            flaky = FlakyClient(reg, "Lease", 3)
            hb.client = flaky
            lease0 = get(reg, LEASE, "kube-node-lease", "node1")
            assert lease0 is not None
            task = asyncio.create_task(hb.run())
            try:
                await until(lambda: (lambda l: l and l["spec"]["renewTime"]
                                     != lease0["spec"]["renewTime"])(
                    get(reg, LEASE, "kube-node-lease", "node1")))
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            return flaky.left, task.cancelled()
    left, cancelled = asyncio.run(body())
    assert left == 0 and cancelled  # every failure was absorbed; the loop only ended by cancel


def test_deleted_node_is_registered_again(tmp_path: Path) -> None:
    async def body() -> tuple[str, str]:
        async with cluster(tmp_path) as reg:
            hb = heartbeat(reg)
            node = await hb.register()
            assert NODE is not None
            await LocalClient(reg, "user").delete(NODE, "", "node1")
            again = await hb.post_status()
            assert again is not None
            return node["metadata"]["uid"], again["metadata"]["uid"]
    old_uid, new_uid = asyncio.run(body())
    assert old_uid != new_uid


def test_node_events(tmp_path: Path) -> None:
    async def body() -> list[dict[str, Any]]:
        async with cluster(tmp_path) as reg:
            await heartbeat(reg, recorder=True).register()
            return stored_events(reg)
    evs = asyncio.run(body())
    reasons = [e["reason"] for e in evs]
    for reason in ("Starting", "NodeAllocatableEnforced", "NodeHasSufficientMemory",
                   "NodeHasNoDiskPressure", "NodeHasSufficientPID", "NodeReady"):
        assert reasons.count(reason) == 1, reason
    ready = next(e for e in evs if e["reason"] == "NodeReady")
    assert ready["message"] == "Node node1 status is now: NodeReady"
    assert ready["involvedObject"] == {"kind": "Node", "name": "node1", "uid": "node1",
                                       "apiVersion": "v1"}
    assert ready["source"] == {"component": "kubelet", "host": "node1"}


NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
NOT_READY = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
USER = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}


def _node(conds: dict[str, str], taints: list[dict[str, Any]], unschedulable: bool = False
          ) -> dict[str, Any]:
    return {"spec": {"taints": taints, "unschedulable": unschedulable},
            "status": {"conditions": [{"type": t, "status": s} for t, s in conds.items()]}}


@pytest.mark.parametrize("node,want", [
    (_node({"Ready": "True"}, [NOT_READY, USER]), [USER]),
    (_node({"Ready": "True"}, [USER]), None),
    (_node({"Ready": "False"}, []),
     [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule", "timeAdded": "2026-01-01T00:00:00Z"}]),
    (_node({"Ready": "True", "MemoryPressure": "True"}, []),
     [{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule",
       "timeAdded": "2026-01-01T00:00:00Z"}]),
    (_node({"Ready": "True"}, [], unschedulable=True),
     [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
       "timeAdded": "2026-01-01T00:00:00Z"}]),
    (_node({"Ready": "True"}, [{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}]),
     None),
], ids=["ready-lifts-not-ready", "in-step-no-write", "not-ready-taints",
        "memory-pressure-taints", "cordon-taints", "noexecute-left-alone"])
def test_condition_taints(node: dict[str, Any], want: list[dict[str, Any]] | None) -> None:
    assert condition_taints(node, NOW) == want
