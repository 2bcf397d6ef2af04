"""bench/memory.py: charging retained allocations to kubeproc components by traceback."""

from __future__ import annotations

import os
import signal
import tracemalloc

import pytest

from bench import memory
from kubeproc import memdump

OUT = (None, "")  # a frame outside kubeproc (stdlib, aiohttp, asyncio)


def k(rel: str, fn: str = "") -> memory.Frame:
    return (rel, fn)


@pytest.mark.parametrize("rel,want", [
    ("agent/worker.py", "agent"),
    ("agent/runtime/monitorclient.py", "agent"),
    ("store/watch.py", "store"),
    ("registry/patch/merge.py", "registry"),
    ("apiserver/handlers.py", "apiserver"),
    ("controllers/replicaset/reconciler.py", "controllers"),
    ("client/local.py", "client"),
    ("dns/server.py", "dns/proxy"),
    ("proxy/rules.py", "dns/proxy"),
    ("machinery/events.py", "machinery"),
    ("api/jsoncodec.py", "api"),
    ("nodewiring.py", memory.OTHER),
    ("server.py", memory.OTHER),
    (None, memory.OUTSIDE),
], ids=lambda v: str(v))
def test_component_by_path_prefix(rel, want):
    assert memory.component(rel) == want


@pytest.mark.parametrize("filename,want", [
    ("/work/main/kubeproc/agent/agent.py", "agent/agent.py"),
    ("/usr/lib/python3.11/json/decoder.py", None),
    ("/work/main/kubeprocx/agent.py", None),
], ids=["inside", "stdlib", "sibling-prefix-not-inside"])
def test_kubeproc_rel(filename, want):
    assert memory.kubeproc_rel(filename, "/work/main/kubeproc/") == want


# frames are oldest (outermost) first, as tracemalloc.Traceback iterates
HOLDER_CASES = [
    ("no-kubeproc-frame-is-outside", [OUT, OUT], memory.OUTSIDE),
    ("watch-event-decoded-for-agent-is-agent",
     [OUT, k("agent/agent.py", "run"), k("client/local.py", "obj"), k("api/jsoncodec.py", "loads"), OUT],
     "agent"),
    ("list-decoded-by-store-for-agent-is-agent",
     [k("agent/context.py", "services"), k("client/local.py", "list"), k("registry/registry.py", "list"),
      k("store/store.py", "obj"), k("api/jsoncodec.py", "loads")], "agent"),
    ("agent-status-write-is-store",
     [k("agent/podstatus.py", "sync"), k("client/local.py", "mutate"), k("registry/registry.py", "patch_with"),
      k("agent/podstatus.py", "fn"), k("store/store.py", "stage"), k("api/jsoncodec.py", "dumps")], "store"),
    ("write-encoded-in-registry-is-registry",
     [k("agent/podstatus.py", "sync"), k("client/local.py", "update"), k("registry/registry.py", "update"),
      k("api/jsoncodec.py", "dumps")], "registry"),
    ("write-without-api-side-frame-is-registry",
     [k("agent/podstatus.py", "sync"), k("client/local.py", "create"), k("api/defaults.py", "apply")],
     "registry"),
    ("event-recorded-by-agent-is-store",
     [k("agent/worker.py", "start"), k("machinery/events.py", "record"), k("client/local.py", "create"),
      k("registry/registry.py", "create"), k("store/watch.py", "publish")], "store"),
    ("event-recorder-own-cache-held-for-agent-is-agent",
     [k("agent/worker.py", "start"), k("machinery/events.py", "record"), OUT], "agent"),
    ("read-through-machinery-runner-is-caller",
     [k("controllers/replicaset/reconciler.py", "run"), k("machinery/runner.py", "loop"),
      k("client/local.py", "list")], "controllers"),
    ("read-with-only-generic-callers-is-innermost-generic-caller",
     [k("machinery/runner.py", "loop"), k("client/local.py", "obj"), k("api/jsoncodec.py", "loads")],
     "machinery"),
    ("read-with-no-caller-frame-is-client",
     [k("client/local.py", "obj"), k("api/jsoncodec.py", "loads")], "client"),
    ("read-under-wiring-only-is-agent",
     [k("cli/main.py", "run"), k("agent/agent.py", "run"), k("cli/main.py", "x"), k("client/local.py", "obj")],
     "agent"),
    ("recorder-task-under-cli-is-machinery",
     [k("cli/main.py", "main"), k("machinery/events.py", "flush"), OUT], "machinery"),
    ("http-request-stored-is-store",
     [OUT, k("apiserver/handlers.py", "create"), k("registry/registry.py", "create"),
      k("store/store.py", "stage"), k("api/jsoncodec.py", "dumps")], "store"),
    ("apiserver-own-buffer-is-apiserver",
     [OUT, k("apiserver/watchstream.py", "serve"), k("api/jsoncodec.py", "dumps"), OUT], "apiserver"),
    ("agent-own-state-is-agent", [OUT, k("agent/worker.py", "run"), OUT], "agent"),
    ("only-generic-frames-is-innermost-generic",
     [k("machinery/queue.py", "add"), k("api/quantity.py", "parse")], "api"),
    ("wiring-only-is-other", [k("server.py", "run"), OUT], memory.OTHER),
]


@pytest.mark.parametrize("frames,want", [c[1:] for c in HOLDER_CASES], ids=[c[0] for c in HOLDER_CASES])
def test_holder(frames, want):
    assert memory.holder(frames) == want


@pytest.mark.parametrize("frames,want", [
    ([k("server.py"), k("agent/podstatus.py"), k("client/local.py", "mutate"),
      k("registry/registry.py"), k("store/store.py")], "agent"),
    ([OUT, k("apiserver/handlers.py"), k("registry/registry.py")], "apiserver"),
    ([k("nodewiring.py"), OUT], memory.OTHER),
    ([OUT], memory.OUTSIDE),
], ids=["agent-write-counts-as-agent", "http-request-is-apiserver", "wiring-only-is-other",
        "nothing-is-outside"])
def test_initiator_outermost_component(frames, want):
    assert memory.initiator(frames) == want


def test_attribute_sums_sizes_per_view_including_frees():
    agent_write = [k("agent/podstatus.py"), k("client/local.py", "mutate"), k("store/store.py")]
    agent_own = [k("agent/worker.py")]
    views = memory.attribute([(agent_write, 6000), (agent_own, 1000), (agent_own, -200), ([OUT], 50)])
    assert views["holder"] == {"store": 6000, "agent": 800, memory.OUTSIDE: 50}
    assert views["initiator"] == {"agent": 6800, memory.OUTSIDE: 50}


def test_top_sites_only_the_component_biggest_first():
    own = [k("agent/worker.py")]
    stored = [k("agent/podstatus.py"), k("client/local.py", "create"), k("store/store.py")]
    diffs = [(own, 100, "agent/worker.py:10"), (own, 300, "agent/worker.py:20"),
             (own, 50, "agent/worker.py:10"), (stored, 9999, "store/store.py:5")]
    assert memory.top_sites(diffs, "agent", 5) == [("agent/worker.py:20", 300), ("agent/worker.py:10", 150)]


def test_function_at_resolves_client_functions():
    path = os.path.join(os.path.dirname(memory.__file__), "..", "kubeproc", "client", "local.py")
    with open(path) as f:
        lines = f.read().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "jsoncodec.loads(self.data)" in text)
    assert memory.function_at(path, line) == "obj"
    assert memory.function_at(path, 1) == ""


def test_memdump_not_installed_without_env():
    assert memdump.install(None, environ={}) is False  # type: ignore[arg-type]


def test_memdump_writes_numbered_snapshots(tmp_path):
    handlers = {}

    class Loop:
        def add_signal_handler(self, sig, fn):
            handlers[sig] = fn

    assert memdump.install(Loop(), environ={memdump.ENV: str(tmp_path)}) is True  # type: ignore[arg-type]
    started_here = not tracemalloc.is_tracing()
    if started_here:
        tracemalloc.start(5)
    try:
        handlers[signal.SIGUSR2]()
        handlers[signal.SIGUSR2]()
    finally:
        if started_here:
            tracemalloc.stop()
    assert sorted(os.listdir(tmp_path)) == ["snapshot-1.pickle", "snapshot-2.pickle"]
    assert isinstance(tracemalloc.Snapshot.load(str(tmp_path / "snapshot-1.pickle")), tracemalloc.Snapshot)
