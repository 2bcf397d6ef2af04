"""The EndpointSlice and Endpoints controllers over a real Registry: a Service's ready pods
become one slice with the resolved ports, readiness and termination flip conditions, a
headless Service over StatefulSet-like pods gets hostnames, 150 pods make 2 slices, and the
Endpoints object carries addresses / notReadyAddresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.controllers.endpoints.reconciler import EndpointsController
from kubeproc.controllers.endpointslice.reconciler import EndpointSliceController
from kubeproc.machinery.events import EventRecorder
from tests.unit.test_events import cluster, until

POD = resources.by_kind("", "Pod")
SVC = resources.by_kind("", "Service")
SLICE = resources.by_kind("discovery.k8s.io", "EndpointSlice")
EPS = resources.by_kind("", "Endpoints")
NODE = resources.by_kind("", "Node")


def service(name: str = "web", headless: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": name},
                            "ports": [{"name": "http", "port": 80, "targetPort": "web"}]}
    if headless:
        spec["clusterIP"] = "None"
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pod(name: str, app: str = "web", **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox",
                                     "ports": [{"name": "web", "containerPort": 8080}]}],
                     **spec}}


async def set_status(client: LocalClient, name: str, ip: str, ready: bool) -> None:
    assert POD is not None

    def fn(p: dict[str, Any]) -> dict[str, Any]:
        p["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
        return p
    await client.mutate(POD, "default", name, fn, subresource="status")


async def running_pod(client: LocalClient, name: str, ip: str, ready: bool = True,
                      **spec: Any) -> None:
    assert POD is not None
    await client.create(POD, pod(name, **spec))
    await set_status(client, name, ip, ready)


def slices(client: LocalClient, svc: str = "web") -> list[dict[str, Any]]:
    assert SLICE is not None
    return client.list(SLICE, "default", f"kubernetes.io/service-name={svc}")[0]


def endpoints_by_pod(client: LocalClient, svc: str = "web") -> dict[str, dict[str, Any]]:
    return {e["targetRef"]["name"]: e for s in slices(client, svc)
            for e in s.get("endpoints") or ()}


def when(get: Callable[[], Any], pred: Callable[[Any], bool]) -> Callable[[], Any]:
    """A poll for `until`: the value of `get()` once `pred` holds for it."""
    def poll() -> Any:
        got = get()
        return got if pred(got) else None
    return poll


Scenario = Callable[[LocalClient], Awaitable[None]]


def run_with_controllers(tmp: Path, scenario: Scenario) -> None:
    async def body() -> None:
        async with cluster(tmp) as reg:
            client = LocalClient(reg, "test")
            assert NODE is not None
            await client.create(NODE, {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": "n1"}})
            kcm = LocalClient(reg, "kube-controller-manager")
            ctrls = [EndpointSliceController(kcm, EventRecorder(kcm, "endpointslice-controller")),
                     EndpointsController(kcm, EventRecorder(kcm, "endpoint-controller"))]
            tasks = [asyncio.create_task(c.run()) for c in ctrls]
            try:
                await scenario(client)
            finally:
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with pytest.raises(asyncio.CancelledError):
                        await t
    asyncio.run(body())


def test_ready_pods_make_one_slice_and_conditions_follow(tmp_path: Path) -> None:
    async def scenario(client: LocalClient) -> None:
        assert SVC is not None and POD is not None and EPS is not None
        created = await client.create(SVC, service())
        for i in range(3):
            await running_pod(client, f"web-{i}", f"10.244.0.{i + 10}")
        await running_pod(client, "other", "10.244.0.99", app="other")
        eps = await until(when(lambda: endpoints_by_pod(client), lambda e: len(e) == 3 and all(
            x["conditions"]["ready"] for x in e.values())))
        (s,) = slices(client)
        assert s["metadata"]["name"].startswith("web-") and len(s["metadata"]["name"]) == 9
        assert s["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == \
            "endpointslice-controller.k8s.io"
        assert s["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert s["addressType"] == "IPv4"
        assert s["ports"] == [{"name": "http", "protocol": "TCP", "port": 8080}]
        assert eps["web-1"]["addresses"] == ["10.244.0.11"]
        assert "hostname" not in eps["web-1"] and eps["web-1"]["nodeName"] == "n1"

        await set_status(client, "web-1", "10.244.0.11", ready=False)
        await until(lambda: not endpoints_by_pod(client)["web-1"]["conditions"]["ready"])
        ep = await until(when(lambda: client.get(EPS, "default", "web") or {},
                              lambda e: any(s.get("notReadyAddresses")
                                            for s in e.get("subsets") or ())))
        (subset,) = ep["subsets"]
        assert [a["ip"] for a in subset["addresses"]] == ["10.244.0.10", "10.244.0.12"]
        assert [a["ip"] for a in subset["notReadyAddresses"]] == ["10.244.0.11"]
        assert subset["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

        await client.delete(POD, "default", "web-0")  # bound, graceful: stays, terminating
        got = await until(when(lambda: endpoints_by_pod(client).get("web-0"),
                               lambda e: e and e["conditions"]["terminating"]))
        assert got["conditions"] == {"ready": False, "serving": True, "terminating": True}
        assert len(slices(client)) == 1
    run_with_controllers(tmp_path, scenario)


def test_headless_statefulset_pods_get_hostnames(tmp_path: Path) -> None:
    async def scenario(client: LocalClient) -> None:
        assert SVC is not None
        await client.create(SVC, service("db", headless=True))
        for i in range(2):
            await running_pod(client, f"db-{i}", f"10.244.1.{i + 1}", app="db",
                              hostname=f"db-{i}", subdomain="db")
        eps = await until(when(lambda: endpoints_by_pod(client, "db"), lambda e: len(e) == 2))
        assert {n: e.get("hostname") for n, e in eps.items()} == {"db-0": "db-0", "db-1": "db-1"}
        assert slices(client, "db")[0]["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    run_with_controllers(tmp_path, scenario)


def test_150_pods_make_two_slices(tmp_path: Path) -> None:
    async def scenario(client: LocalClient) -> None:
        assert SVC is not None
        for i in range(150):
            await running_pod(client, f"web-{i:03}", f"10.244.{i // 200}.{i % 200 + 1}")
        await client.create(SVC, service())
        got = await until(when(lambda: slices(client), lambda s: sum(
            len(x.get("endpoints") or ()) for x in s) == 150))
        assert sorted(len(x["endpoints"]) for x in got) == [50, 100]
    run_with_controllers(tmp_path, scenario)


def test_service_without_pods_gets_a_placeholder(tmp_path: Path) -> None:
    async def scenario(client: LocalClient) -> None:
        assert SVC is not None and EPS is not None
        await client.create(SVC, service())
        (s,) = await until(lambda: slices(client))
        assert not s.get("endpoints")
        ep = await until(lambda: client.get(EPS, "default", "web"))
        assert not ep.get("subsets")
        manual = service("manual")
        del manual["spec"]["selector"]
        await client.create(SVC, manual)
        await client.create(SVC, service("later"))
        await until(lambda: slices(client, "later"))
        assert slices(client, "manual") == [] and client.get(EPS, "default", "manual") is None
    run_with_controllers(tmp_path, scenario)


def test_pods_on_unknown_nodes_wait_for_the_node(tmp_path: Path) -> None:
    async def scenario(client: LocalClient) -> None:
        assert SVC is not None and NODE is not None
        await client.create(SVC, service())
        await running_pod(client, "here", "10.244.0.1")
        await running_pod(client, "there", "10.244.0.2", nodeName="n2")
        await until(lambda: "here" in endpoints_by_pod(client))
        assert "there" not in endpoints_by_pod(client)
        await client.create(NODE, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n2"}})
        await until(lambda: "there" in endpoints_by_pod(client))
    run_with_controllers(tmp_path, scenario)


def test_second_sync_writes_nothing(tmp_path: Path) -> None:
    async def body() -> tuple[list[str], list[str]]:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert NODE is not None and SVC is not None and EPS is not None
            await client.create(NODE, {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": "n1"}})
            await client.create(SVC, service())
            for i in range(120):
                await running_pod(client, f"web-{i:03}", f"10.244.0.{i + 1}", ready=i % 3 > 0)
            kcm = LocalClient(reg, "kube-controller-manager")
            ctrls = [EndpointSliceController(kcm, EventRecorder(kcm, "endpointslice-controller")),
                     EndpointsController(kcm, EventRecorder(kcm, "endpoint-controller"))]

            def versions() -> list[str]:
                objs = slices(client) + [client.get(EPS, "default", "web") or {}]
                return sorted(str(o.get("metadata", {}).get("resourceVersion")) for o in objs)
            for c in ctrls:
                await c._reconcile(("default", "web"))
            first = versions()
            for c in ctrls:
                await c._reconcile(("default", "web"))
                c.queue.close()
            assert sorted(len(s["endpoints"]) for s in slices(client)) == [20, 100]
            return first, versions()
    first, second = asyncio.run(body())
    assert len(first) == 3 and first == second
