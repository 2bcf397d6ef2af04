"""Agent memory per running pod: `python -m bench.memory [--pods 200]` (root).

kubeproc is one Python process (API server, controllers, node agent, DNS, proxy), so the node
agent's share of its memory is found by attribution: a private kubeproc runs under tracemalloc
(PYTHONTRACEMALLOC=25) with the SIGUSR2 snapshot hook (kubeproc/memdump.py); snapshot A is
taken with no pods (after a warm-up), B once N pods run and the API has settled, and every
allocation retained between A and B is charged to a component by its traceback. Two views:

- holder (the one to read): who keeps the memory. The in-process Client (kubeproc/client) is
  the boundary between the API side and its users. Below a Client *write* (create, update,
  mutate, delete) the bytes become API objects: charged to store/registry (the innermost such
  frame), whoever called. Below a Client *read* (get, list, watch events decoded on use) the
  decoded dicts belong to the caller: charged to the innermost caller frame outside the generic
  layers. Without a Client frame: the innermost kubeproc frame outside the generic layers
  (api, client, machinery: codecs, queues and event recorders work for whoever calls them),
  else the innermost generic one. Wiring frames (cli, server.py, nodewiring.py: the bottom of
  every task) never own anything another frame can.
- initiator: the outermost frame that belongs to a component (e.g. an agent status write
  stored by the store counts as agent): what the agent causes, not what it keeps.
The figures are Python allocations (tracemalloc), not RSS; RSS under tracemalloc is inflated by
its own bookkeeping (~tens of bytes per live block). The container monitor (a separate process
holding every container's stdio) is the agent's too: its private memory is reported beside.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import os
import shutil
import signal
import tempfile
import time
import tracemalloc
from collections.abc import Iterable, Sequence

from bench.api import rss_mb
from bench.pods import pod, shim_private_kb, started
from kubeproc.testing.instance import Instance, free_port

NS = "bench"
# first match wins; paths are relative to the kubeproc package directory
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("agent/", "agent"), ("store/", "store"), ("registry/", "registry"),
    ("apiserver/", "apiserver"), ("controllers/", "controllers"), ("client/", "client"),
    ("dns/", "dns/proxy"), ("proxy/", "dns/proxy"), ("machinery/", "machinery"), ("api/", "api"))
OUTSIDE = "outside kubeproc"
OTHER = "other kubeproc"  # wiring (server.py, nodewiring.py), dashboard, memdump
API_SIDE = frozenset({"store", "registry"})
GENERIC = frozenset({"api", "client", "machinery"})
CLIENT_WRITES = frozenset({"create", "update", "mutate", "delete"})

# one frame, oldest first in a traceback: (path relative to kubeproc/ or None, function name)
Frame = tuple[str | None, str]


def component(rel: str | None) -> str:
    """The component owning a file (relative to the kubeproc package), OUTSIDE for None."""
    if rel is None:
        return OUTSIDE
    for prefix, name in COMPONENTS:
        if rel.startswith(prefix):
            return name
    return OTHER


def kubeproc_rel(filename: str, root: str) -> str | None:
    """`filename` relative to the package directory `root` (ending in /), None outside it."""
    return filename[len(root):] if filename.startswith(root) else None


def initiator(frames: Sequence[Frame]) -> str:
    """The outermost frame with a component (OTHER if only wiring frames, OUTSIDE if none)."""
    comps = [component(rel) for rel, _ in frames if rel is not None]
    for c in comps:
        if c != OTHER:
            return c
    return OTHER if comps else OUTSIDE


def _owner(frames: Sequence[Frame]) -> str | None:
    """The innermost kubeproc frame's component, preferring non-generic ones; wiring frames
    (cli, server.py: the outermost frames of every task) own nothing unless alone."""
    comps = [component(rel) for rel, _ in reversed(frames) if rel is not None]
    for skip in (GENERIC | {OTHER}, frozenset({OTHER})):
        found = next((c for c in comps if c not in skip), None)
        if found is not None:
            return found
    return OTHER if comps else None


def holder(frames: Sequence[Frame]) -> str:
    """Who retains an allocation made with this traceback (rules in the module docstring)."""
    at = next((i for i, (rel, _) in enumerate(frames) if component(rel) == "client"), None)
    if at is not None:
        if frames[at][1] in CLIENT_WRITES:
            inner = [f for f in frames[at + 1:] if component(f[0]) in API_SIDE]
            return component(inner[-1][0]) if inner else "registry"
        return _owner(frames[:at]) or "client"
    return _owner(frames) or OUTSIDE


@functools.lru_cache(maxsize=None)
def _functions(path: str) -> tuple[tuple[int, int, str], ...]:
    try:
        with open(path) as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return ()
    return tuple((n.lineno, n.end_lineno or n.lineno, n.name) for n in ast.walk(tree)
                 if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))


def function_at(path: str, lineno: int) -> str:
    """Name of the innermost function defined in `path` around `lineno` ('' at module level):
    tracemalloc frames carry only file and line."""
    best = (0, "")
    for start, end, name in _functions(path):
        if start <= lineno <= end and start >= best[0]:
            best = (start, name)
    return best[1]


def frames_of(tb: Iterable[tracemalloc.Frame], root: str) -> list[Frame]:
    out: list[Frame] = []
    for fr in tb:
        rel = kubeproc_rel(fr.filename, root)
        # only the Client's function names matter to holder(): resolve no other
        name = function_at(fr.filename, fr.lineno) if rel is not None and rel.startswith("client/") else ""
        out.append((rel, name))
    return out


def attribute(diffs: Iterable[tuple[list[Frame], int]]) -> dict[str, dict[str, int]]:
    """Sum size differences per component: {"holder": {comp: bytes}, "initiator": {...}}."""
    out: dict[str, dict[str, int]] = {"holder": {}, "initiator": {}}
    for frames, size in diffs:
        for view, rule in (("holder", holder), ("initiator", initiator)):
            c = rule(frames)
            out[view][c] = out[view].get(c, 0) + size
    return out


def top_sites(diffs: Iterable[tuple[list[Frame], int, str]], comp: str, n: int) -> list[tuple[str, int]]:
    """The `n` innermost kubeproc file:line sites retaining most for `comp` (holder view)."""
    sites: dict[str, int] = {}
    for frames, size, site in diffs:
        if holder(frames) == comp:
            sites[site] = sites.get(site, 0) + size
    return sorted(sites.items(), key=lambda kv: -kv[1])[:n]


# --- the run --------------------------------------------------------------------------------

def pods_now(inst: Instance) -> tuple[list[dict], str]:
    status, body = inst.request("GET", f"/api/v1/namespaces/{NS}/pods", timeout=60)
    assert status == 200, body
    return body["items"], body["metadata"]["resourceVersion"]


def create_and_wait(inst: Instance, prefix: str, n: int) -> float:
    """Create `n` sleep pods one after another; wait until every container runs; seconds."""
    t0 = time.monotonic()
    for i in range(n):
        status, body = inst.request("POST", f"/api/v1/namespaces/{NS}/pods", pod(f"{prefix}-{i}"), timeout=60)
        assert status == 201, body
    deadline = time.monotonic() + 60 + 2 * n
    while time.monotonic() < deadline:
        items, _ = pods_now(inst)
        if sum(1 for p in items if started(p)) >= n:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise RuntimeError(f"{n} pods did not all start by the deadline")


def delete_all(inst: Instance) -> None:
    status, body = inst.request("DELETE", f"/api/v1/namespaces/{NS}/pods", timeout=60)
    assert status == 200, body
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not pods_now(inst)[0]:
            return
        time.sleep(0.3)
    raise RuntimeError("pods were not deleted within 120 s")


def settle(inst: Instance, quiet: float = 1.0, limit: float = 30.0) -> bool:
    """Wait until the store's resourceVersion has not moved for `quiet` s (False: gave up)."""
    deadline = time.monotonic() + limit
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        _, body = inst.request("GET", f"/api/v1/namespaces/{NS}/pods?limit=1")
        rv = body["metadata"]["resourceVersion"]
        if rv != last:
            last, since = rv, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return True
        time.sleep(0.1)
    return False


def snapshot(inst: Instance, directory: str, n: int) -> str:
    """Ask kubeproc for its n-th snapshot (SIGUSR2); its path once the rename lands."""
    assert inst.proc is not None
    os.kill(inst.proc.pid, signal.SIGUSR2)
    path = os.path.join(directory, f"snapshot-{n}.pickle")
    deadline = time.monotonic() + 300
    while not os.path.exists(path):
        if time.monotonic() > deadline or inst.proc.poll() is not None:
            raise RuntimeError(f"no {path}: {inst.log_tail()}")
        time.sleep(0.2)
    return path


def measure(inst: Instance, snaps: str, pods: int) -> dict:
    assert inst.proc is not None
    inst.kubectl("create", "namespace", NS)
    create_and_wait(inst, "warm", 5)  # imports, the monitor, first bundles
    delete_all(inst)
    settle(inst)
    snap_a = snapshot(inst, snaps, 1)
    # after A: taking a snapshot grows the heap by itself, which must not count as the pods'
    rss0, mon0 = rss_mb(inst.proc.pid), shim_private_kb(inst.data_dir)[1]
    took = create_and_wait(inst, "p", pods)
    settled = settle(inst)
    rss1, mon1 = rss_mb(inst.proc.pid), shim_private_kb(inst.data_dir)[1]
    snap_b = snapshot(inst, snaps, 2)
    delete_all(inst)
    return {"a": snap_a, "b": snap_b, "rss": [rss0, rss1], "monitor_kb": mon1 - mon0,
            "took": took, "settled": settled, "pods": pods}


def analyse(path_a: str, path_b: str, root: str) -> tuple[dict[str, dict[str, int]], list[tuple[str, int]]]:
    """(bytes retained per component in each view, the top agent-held sites) from A to B."""
    diffs = []
    snap_b = tracemalloc.Snapshot.load(path_b)
    for st in snap_b.compare_to(tracemalloc.Snapshot.load(path_a), "traceback"):
        if st.size_diff == 0:
            continue
        frames = frames_of(st.traceback, root)
        inner = next((fr for fr in reversed(st.traceback) if fr.filename.startswith(root)), None)
        site = f"{inner.filename[len(root):]}:{inner.lineno}" if inner else "?"
        diffs.append((frames, st.size_diff, site))
    views = attribute((f, s) for f, s, _ in diffs)
    return views, top_sites(diffs, "agent", 12)


def report(pods: int, m: dict, views: dict[str, dict[str, int]], sites: list[tuple[str, int]]) -> None:
    kb = 1024
    print(f"{pods} busybox sleep pods started in {m['took']:.1f} s (under tracemalloc); "
          f"store settled: {'yes' if m['settled'] else 'no (gave up after 30 s)'}\n")
    print("Retained Python allocations between 0 and N running pods, by component "
          "(tracemalloc, not RSS):\n")
    print("| component | holder KB | holder KB/pod | initiator KB | initiator KB/pod |")
    print("|---|---|---|---|---|")
    comps = sorted(set(views["holder"]) | set(views["initiator"]),
                   key=lambda c: -views["holder"].get(c, 0))
    for c in comps:
        h, i = views["holder"].get(c, 0), views["initiator"].get(c, 0)
        print(f"| {c} | {h / kb:.0f} | {h / kb / pods:.1f} | {i / kb:.0f} | {i / kb / pods:.1f} |")
    th, ti = sum(views["holder"].values()), sum(views["initiator"].values())
    print(f"| **total** | {th / kb:.0f} | {th / kb / pods:.1f} | {ti / kb:.0f} | {ti / kb / pods:.1f} |")
    rss0, rss1 = m["rss"]
    print("\n| measure | result | target |\n|---|---|---|")
    agent = views["holder"].get("agent", 0) / kb / pods
    mon = m["monitor_kb"] / pods
    print(f"| agent Python allocations per running pod (holder view) | {agent:.1f} KB | |")
    print(f"| container monitor private memory growth per pod | {mon:.1f} KB | |")
    print(f"| agent overhead per running pod (the two above) | {agent + mon:.1f} KB | <= 100 KB |")
    print(f"| kubeproc RSS growth per pod, same interval (inflated by tracemalloc) | "
          f"{(rss1 - rss0) * 1024 / pods:.1f} KB | |")
    print(f"| kubeproc RSS at A / B (under tracemalloc) | {rss0:.0f} / {rss1:.0f} MB | |")
    print("\nCaveats: per-component figures are Python allocations seen by tracemalloc (no "
          "allocator slack, no C-library memory); RSS under tracemalloc is inflated by its own "
          "per-block bookkeeping, so compare RSS only with RSS.")
    if sites:
        print("\nTop agent-held allocation sites (innermost kubeproc frame, KB per pod): " +
              ", ".join(f"{s} {b / kb / pods:.2f}" for s, b in sites))


def run(pods: int, frames: int, keep: str) -> tuple[dict, str]:
    """One measured run; returns the run's figures and the directory holding its snapshots."""
    base = tempfile.mkdtemp(prefix="kubeproc-bench-memory-")
    snaps = os.path.join(base, "snapshots")
    # Instance.start inherits this environment; the monitor runs `python -I` (ignores PYTHON*)
    os.environ["PYTHONTRACEMALLOC"] = str(frames)
    os.environ["KUBEPROC_MEMDUMP"] = snaps
    inst = Instance(os.path.join(base, "data"), free_port(),
                    extra_args=("--max-pods", "600", "--pod-cidr", "10.250.0.0/22"))
    try:
        inst.start(timeout=120)  # imports under tracemalloc are slow
        m = measure(inst, snaps, pods)
    finally:
        inst.stop(timeout=120)
    shutil.rmtree(os.path.join(base, "data"), ignore_errors=True)
    if keep:
        os.makedirs(keep, exist_ok=True)
        for key, name in (("a", "snapshot-1.pickle"), ("b", "snapshot-2.pickle")):
            m[key] = shutil.copy(m[key], os.path.join(keep, name))
        with open(os.path.join(keep, "run.json"), "w") as f:
            json.dump(m, f)
    return m, base


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pods", type=int, default=200)
    p.add_argument("--frames", type=int, default=25, help="PYTHONTRACEMALLOC depth")
    p.add_argument("--keep", metavar="DIR", default="", help="keep the snapshots and figures in DIR")
    p.add_argument("--analyse", metavar="DIR", default="",
                   help="no run: report on the snapshots a --keep run left in DIR")
    args = p.parse_args()
    base = ""
    if args.analyse:
        with open(os.path.join(args.analyse, "run.json")) as f:
            m = json.load(f)
        m["a"], m["b"] = (os.path.join(args.analyse, n) for n in ("snapshot-1.pickle", "snapshot-2.pickle"))
    else:
        m, base = run(args.pods, args.frames, args.keep)
    import kubeproc
    root = os.path.dirname(os.path.abspath(kubeproc.__file__)) + os.sep
    try:
        views, sites = analyse(m["a"], m["b"], root)
    finally:
        if base:
            shutil.rmtree(base, ignore_errors=True)
    report(m["pods"], m, views, sites)


if __name__ == "__main__":
    main()
