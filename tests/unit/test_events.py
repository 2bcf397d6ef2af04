"""The event recorder (kubeproc.machinery.events) against client-go's tools/record rules:
the Event's shape (makeEvent), deduplication of identical events into count/lastTimestamp of
one Event (eventLogger), aggregation of similar events (EventAggregator), the spam filter, and
never raising. Runs a real Registry over a temporary Store; async code under asyncio.run.
Also holds `cluster()`, the in-process registry harness the scheduler and heartbeat tests use.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import resources
from kubeproc.client.local import LocalClient
from kubeproc.machinery import events
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store

EVENTS = resources.by_kind("", "Event")
NAMESPACE = resources.by_kind("", "Namespace")
POD = resources.by_kind("", "Pod")


@contextlib.asynccontextmanager
async def cluster(tmp: Path, namespaces: tuple[str, ...] = ("default", "kube-node-lease")
                  ) -> AsyncIterator[Registry]:
    """A Registry over a fresh Store with the given namespaces, closed on exit."""
    store = Store(str(tmp / "db"))
    reg = Registry(store)
    store.start()
    try:
        for ns in namespaces:
            await reg.create(NAMESPACE, "", {"apiVersion": "v1", "kind": "Namespace",
                                             "metadata": {"name": ns}},
                             WriteOptions(field_manager="test"))
        yield reg
    finally:
        await store.close()


async def until(cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll `cond` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        await asyncio.sleep(0.01)


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(fn())


def pod(name: str = "p", ns: str = "default") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000_000_000_000

    def __call__(self) -> int:
        self.t += 1_000  # every reading is a distinct nanosecond
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += int(seconds * 1e9)


def stored_events(reg: Registry, ns: str = "default") -> list[dict[str, Any]]:
    assert EVENTS is not None
    return [e.obj() for e in reg.list(EVENTS, ns).items]


def test_first_event_shape(tmp_path: Path) -> None:
    async def body() -> tuple[dict[str, Any], dict[str, Any]]:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert POD is not None
            p = await client.create(POD, pod())
            rec = events.EventRecorder(client, "default-scheduler", now=lambda: 1_700_000_000_123_456_789)
            out = await rec.normal(p, "Scheduled", "Successfully assigned default/p to n1")
            assert out is not None
            return p, stored_events(reg)[0]
    p, ev = run(body)
    assert ev["metadata"]["name"] == "p.%x" % 1_700_000_000_123_456_789
    assert ev["metadata"]["namespace"] == "default"
    assert ev["involvedObject"] == {
        "kind": "Pod", "namespace": "default", "name": "p", "uid": p["metadata"]["uid"],
        "apiVersion": "v1", "resourceVersion": p["metadata"]["resourceVersion"]}
    assert (ev["type"], ev["reason"], ev["count"]) == ("Normal", "Scheduled", 1)
    assert ev["source"] == {"component": "default-scheduler"}
    assert ev["reportingComponent"] == "default-scheduler"
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2023-11-14T22:13:20Z"


def test_emit_returns_at_once_and_the_event_is_written_after(tmp_path: Path) -> None:
    async def body() -> None:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            assert POD is not None
            p = await client.create(POD, pod())
            rec = events.EventRecorder(client, "replicaset-controller")
            assert rec.emit(p, "Normal", "SuccessfulCreate", "Created pod: p") is None
            assert stored_events(reg) == [] and len(rec._emitting) == 1  # not written yet
            await until(lambda: stored_events(reg))
            await until(lambda: not rec._emitting)  # finished writes are not kept
            assert [e["reason"] for e in stored_events(reg)] == ["SuccessfulCreate"]
    run(body)


def test_identical_events_aggregate_into_count(tmp_path: Path) -> None:
    clock = Clock()

    async def body() -> list[dict[str, Any]]:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            rec = events.EventRecorder(client, "kubelet", host="node1", now=clock)
            ref = {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u1",
                   "apiVersion": "v1"}
            await rec.warning(ref, "BackOff", "Back-off restarting failed container")
            clock.advance(5)
            await rec.warning(ref, "BackOff", "Back-off restarting failed container")
            await rec.warning(ref, "Failed", "Error: ErrImagePull")  # a different key
            return stored_events(reg)
    evs = run(body)
    by_reason = {e["reason"]: e for e in evs}
    assert len(evs) == 2
    backoff = by_reason["BackOff"]
    assert backoff["count"] == 2
    assert backoff["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert backoff["lastTimestamp"] == "2023-11-14T22:13:25Z"
    assert backoff["source"] == {"component": "kubelet", "host": "node1"}
    assert backoff["reportingInstance"] == "node1"
    assert by_reason["Failed"]["count"] == 1


def test_deleted_event_is_recreated(tmp_path: Path) -> None:
    async def body() -> list[dict[str, Any]]:
        async with cluster(tmp_path) as reg:
            client = LocalClient(reg, "test")
            rec = events.EventRecorder(client, "c")
            ref = {"kind": "Node", "name": "n1", "uid": "n1", "apiVersion": "v1"}
            first = await rec.normal(ref, "Starting", "Starting kubelet.")
            assert first is not None and EVENTS is not None
            await client.delete(EVENTS, "default", first["metadata"]["name"])
            await rec.normal(ref, "Starting", "Starting kubelet.")
            return stored_events(reg)
    evs = run(body)
    # recordEvent: the patch finds nothing, so the event is created again (count carried on)
    assert [(e["reason"], e["count"]) for e in evs] == [("Starting", 2)]
    assert "namespace" not in evs[0]["involvedObject"]


def test_similar_messages_combine(tmp_path: Path) -> None:
    async def body() -> list[dict[str, Any]]:
        async with cluster(tmp_path) as reg:
            rec = events.EventRecorder(LocalClient(reg, "test"), "c", now=Clock())
            ref = {"kind": "Pod", "namespace": "default", "name": "p", "uid": "u"}
            for i in range(12):
                await rec.warning(ref, "Failed", f"attempt {i}")
            return stored_events(reg)
    evs = run(body)
    combined = [e for e in evs if e["message"].startswith("(combined from similar events): ")]
    # 9 distinct messages are kept; the 10th and later become one counted combined event
    assert len(evs) == 10
    assert len(combined) == 1 and combined[0]["count"] == 3
    assert combined[0]["message"] == "(combined from similar events): attempt 11"


@pytest.mark.parametrize("n,expected", [(25, 25), (30, 25)], ids=["burst-allowed", "spam-dropped"])
def test_spam_filter_budget(n: int, expected: int) -> None:
    corr = events.EventCorrelator(now=Clock())
    kept = 0
    for i in range(n):
        ev = {"metadata": {"name": f"x{i}", "namespace": "default"},
              "involvedObject": {"kind": "Pod", "name": "p"}, "type": "Normal",
              "reason": f"R{i}", "message": "m", "count": 1, "firstTimestamp": "t"}
        kept += corr.correlate(ev) is not None
    assert kept == expected


@pytest.mark.parametrize("type_,ns", [("Bogus", "default"), ("Normal", "missing-ns")],
                         ids=["invalid-type-dropped", "server-rejection-logged"])
def test_failures_never_raise(tmp_path: Path, type_: str, ns: str) -> None:
    async def body() -> Any:
        async with cluster(tmp_path) as reg:
            rec = events.EventRecorder(LocalClient(reg, "test"), "c")
            return await rec.event({"kind": "Pod", "namespace": ns, "name": "p"}, type_, "R", "m")
    assert run(body) is None


@pytest.mark.parametrize("name,valid", [("web-0", True), ("Bad_Name", False)],
                         ids=["dns-name", "uuid-fallback"])
def test_event_name(name: str, valid: bool) -> None:
    got = events.event_name(name, 255)
    assert (got == f"{name}.ff") is valid
