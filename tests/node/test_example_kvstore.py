"""The replicated key-value store example on real pods (examples/kvstore*.yaml).

An OrderedReady StatefulSet scaled 5 -> 3 removes one pod at a time, the next only once the
others re-replicated and are Ready again: no key is lost. The same store as a Parallel
StatefulSet deletes both pods at once: the keys whose 2 copies were both on them are lost.
Timings are printed (run with -s): 5 pods Ready, the scale-down, keys lost.
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import yaml

from tests.node.conftest import apply, wait_for

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
KEYS = {f"key-{i}": f"value-{i}" for i in range(200)}

_spec = importlib.util.spec_from_file_location("kvstore_example",
                                               os.path.join(EXAMPLES, "kvstore", "kvstore.py"))
assert _spec and _spec.loader
kv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kv)


def call(ip: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(f"http://{ip}:7000{path}", data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def stats(ip: str) -> dict[str, Any]:
    status, body = call(ip, "GET", "/stats")
    assert status == 200, body
    return json.loads(body)


def pods(node, ns: str, app: str) -> dict[str, dict[str, Any]]:
    status, body = node.request("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D{app}")
    assert status == 200, body
    return {p["metadata"]["name"]: p for p in body["items"]}


def is_ready(p: dict[str, Any]) -> bool:
    st = p.get("status") or {}
    return not p["metadata"].get("deletionTimestamp") and st.get("phase") == "Running" and any(
        c["type"] == "Ready" and c["status"] == "True" for c in st.get("conditions") or ())


def wait_ready(node, ns: str, app: str, n: int, timeout: float = 120) -> dict[str, str]:
    """Exactly n pods, all Running and Ready: {name: pod IP}."""
    def check() -> dict[str, str] | None:
        got = pods(node, ns, app)
        if len(got) == n and all(is_ready(p) for p in got.values()):
            return {name: p["status"]["podIP"] for name, p in got.items()}
        return None
    return wait_for(check, timeout=timeout, what=f"{n} Ready {app} pods")


def write_all(ip: str) -> None:
    def put(item: tuple[str, str]) -> int:
        return call(ip, "PUT", f"/keys/{item[0]}", item[1].encode())[0]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(put, KEYS.items()))
    assert codes == [204] * len(KEYS)


def held(ips: list[str]) -> dict[str, int]:
    """key -> number of pods holding it."""
    count: dict[str, int] = {}
    for ip in ips:
        status, body = call(ip, "GET", "/keys")
        assert status == 200
        for key in json.loads(body):
            count[key] = count.get(key, 0) + 1
    return count


def orphaned_by(ips: dict[str, str], removed: list[str]) -> set[str]:
    """The keys whose 2 owners (for the 5-pod membership) are all among `removed`."""
    gone = {ips[name] for name in removed}
    return {k for k in KEYS if set(kv.owners(k, list(ips.values()))) <= gone}


def deploy(node, ns: str, manifest: str, app: str) -> tuple[dict[str, str], float]:
    started = time.monotonic()
    node.kubectl("apply", "-n", ns, "-f", os.path.join(EXAMPLES, manifest))
    ips = wait_ready(node, ns, app, 5)
    took = time.monotonic() - started
    print(f"\n{app}: 5 pods Ready in {took:.1f} s")
    # every pod sees all 5 members and is done before the writes start
    wait_for(lambda: all(len(stats(ip)["members"]) == 5 and stats(ip)["ready"] for ip in ips.values()),
             timeout=10, what="5 members everywhere")
    return ips, took


def scale_down(node, ns: str, app: str) -> tuple[dict[str, str], float]:
    started = time.monotonic()
    node.kubectl("scale", "-n", ns, f"statefulset/{app}", "--replicas=3")
    left = wait_ready(node, ns, app, 3)
    took = time.monotonic() - started
    print(f"{app}: scale-down 5 -> 3 until 3 Ready pods in {took:.1f} s")
    return left, took


def test_ordered_ready_scale_down_loses_no_key(node, ns):
    ips, _ = deploy(node, ns, "kvstore.yaml", "kv")
    write_all(ips["kv-0"])
    assert held(list(ips.values())) == {k: 2 for k in KEYS}, "each key on exactly 2 pods"
    at_risk = orphaned_by(ips, ["kv-3", "kv-4"])
    assert at_risk, "some keys live only on the two pods to remove"
    before = {name: stats(ips[name]) for name in ("kv-0", "kv-1", "kv-2")}

    left, _ = scale_down(node, ns, "kv")
    assert sorted(left) == ["kv-0", "kv-1", "kv-2"] and all(left[n] == ips[n] for n in left)
    for key, value in KEYS.items():
        assert call(ips["kv-0"], "GET", f"/keys/{key}") == (200, value.encode()), key
    print(f"kv: keys lost 0 of {len(KEYS)} ({len(at_risk)} had both copies on kv-3/kv-4)")
    # once settled, every key is on exactly 2 of the 3 remaining pods again
    wait_for(lambda: held(list(left.values())) == {k: 2 for k in KEYS}, timeout=10,
             what="2 copies of every key")
    for name, old in before.items():
        new = stats(left[name])
        assert new["members"] == sorted(left.values())
        # each survivor turned NotReady for the changes and re-replicated
        assert new["notReadyTurns"] >= old["notReadyTurns"] + 1, (name, old, new)
        assert new["rebalances"] > old["rebalances"]
        assert new["lastRebalanceMs"] < 1000
    assert call(ips["kv-0"], "GET", "/keys/no-such-key")[0] == 404


def test_parallel_scale_down_loses_the_keys_of_both_removed_pods(node, ns):
    with open(os.path.join(EXAMPLES, "kvstore.yaml")) as f:
        (cm,) = [d for d in yaml.safe_load_all(f) if d and d["kind"] == "ConfigMap"]
    apply(node, ns, cm)
    ips, _ = deploy(node, ns, "kvstore-parallel.yaml", "kvp")
    write_all(ips["kvp-2"])
    assert held(list(ips.values())) == {k: 2 for k in KEYS}
    expected = orphaned_by(ips, ["kvp-3", "kvp-4"])

    left, _ = scale_down(node, ns, "kvp")
    assert sorted(left) == ["kvp-0", "kvp-1", "kvp-2"]
    lost = {k for k in KEYS if call(ips["kvp-0"], "GET", f"/keys/{k}")[0] == 404}
    print(f"kvp: keys lost {len(lost)} of {len(KEYS)} (both copies on kvp-3/kvp-4: {len(expected)})")
    assert lost, "two pods deleted at once take the keys only they held"
    assert lost <= expected, "only keys whose both copies were on the removed pods are lost"
    assert set(held(list(left.values()))) == set(KEYS) - lost
