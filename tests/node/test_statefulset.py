"""StatefulSets on real processes: ordered, one-at-a-time creation (each pod Running+Ready
before the next exists), stable names and DNS identity under a headless Service, replacement
under the same name with a new uid, ordered scale-down, and (with a local-path StorageClass)
stable per-pod volumes. Skipped while the StatefulSet controller is not running."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from tests.node.conftest import apply, get_pod, wait_for

Snapshot = dict[str, dict[str, Any]]  # pod name -> {uid, ready, terminating}


def _service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"},
                     "ports": [{"name": "redis", "port": 6379}]}}


def _sts(replicas: int, claims: bool = False) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "redis", "image": "redis:7"}
    spec: dict[str, Any] = {
        "replicas": replicas, "serviceName": "web", "podManagementPolicy": "OrderedReady",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"terminationGracePeriodSeconds": 5, "containers": [container]}}}
    if claims:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumeClaimTemplates"] = [{
            "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                     "resources": {"requests": {"storage": "64Mi"}}}}]
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": spec}


def _ready(p: dict[str, Any]) -> bool:
    status = p.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())


def snapshot(inst, ns: str) -> Snapshot:
    """One consistent list of the set's pods (a list is a single resourceVersion)."""
    status, body = inst.request("GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dweb")
    assert status == 200, body
    return {p["metadata"]["name"]: {"uid": p["metadata"]["uid"], "ready": _ready(p),
                                    "terminating": bool(p["metadata"].get("deletionTimestamp"))}
            for p in body["items"]}


class Watcher:
    """Lists the pods every 50 ms in a thread: what `kubectl get pods -w` would have shown."""

    def __init__(self, inst, ns: str) -> None:
        self.inst, self.ns = inst, ns
        self.seen: list[Snapshot] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.seen.append(snapshot(self.inst, self.ns))
            self._stop.wait(0.05)

    def __enter__(self) -> "Watcher":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def require_controller(inst, ns: str) -> None:
    """Skip unless the StatefulSet controller creates the set's first pod within 10 s."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if snapshot(inst, ns):
            return
        time.sleep(0.1)
    out = inst.kubectl("get", "sts", "web", "-n", ns, "-o", "json").stdout
    if not (json.loads(out).get("status") or {}).get("replicas"):
        pytest.skip("StatefulSet controller not wired")


def all_ready(inst, ns: str, names: list[str]) -> Snapshot | None:
    snap = snapshot(inst, ns)
    ok = sorted(snap) == names and all(s["ready"] and not s["terminating"] for s in snap.values())
    return snap if ok else None


def test_ordered_ready_identity_replacement_and_scale_down(node, ns):
    apply(node, ns, _service())
    with Watcher(node, ns) as watch:
        apply(node, ns, _sts(3))
        require_controller(node, ns)
        first = wait_for(lambda: all_ready(node, ns, ["web-0", "web-1", "web-2"]), timeout=90,
                         what="web-0..2 Running+Ready")
    # OrderedReady: in every snapshot a pod exists only when its predecessor is Running+Ready
    for snap in watch.seen:
        for n in (1, 2):
            if f"web-{n}" in snap:
                assert snap.get(f"web-{n - 1}", {}).get("ready"), f"web-{n} existed before web-{n - 1} was ready: {snap}"
    appeared = [name for snap in watch.seen for name in sorted(snap)]
    assert sorted(set(appeared), key=appeared.index) == ["web-0", "web-1", "web-2"]

    # stable network identity from the headless service's subdomain
    for n in range(3):
        name = f"web-{n}"
        short = node.kubectl("exec", "-n", ns, name, "--", "hostname").stdout.strip()
        fqdn = node.kubectl("exec", "-n", ns, name, "--", "hostname", "-f").stdout.strip()
        assert (short, fqdn) == (name, f"{name}.web.{ns}.svc.cluster.local")

    # a deleted member comes back under the same name as a new pod
    node.kubectl("delete", "pod", "-n", ns, "web-0", "--wait=false")
    again = wait_for(lambda: (lambda s: s if s and s["web-0"]["uid"] != first["web-0"]["uid"] else None)(
        all_ready(node, ns, ["web-0", "web-1", "web-2"])), timeout=60, what="web-0 replaced")
    assert again["web-1"]["uid"] == first["web-1"]["uid"] and again["web-2"]["uid"] == first["web-2"]["uid"]

    # scale down: web-2 first, and web-1 only once web-2 is gone
    with Watcher(node, ns) as watch:
        node.kubectl("scale", "sts", "web", "-n", ns, "--replicas=1")
        wait_for(lambda: sorted(snapshot(node, ns)) == ["web-0"], timeout=60, what="scale down to web-0")
    for snap in watch.seen:
        if "web-1" in snap and snap["web-1"]["terminating"]:
            assert "web-2" not in snap, f"web-1 terminating while web-2 still exists: {snap}"
    saw_web2_terminating = any(s.get("web-2", {}).get("terminating") for s in watch.seen)
    saw_web1_alone = any("web-1" in s and "web-2" not in s for s in watch.seen)
    assert saw_web2_terminating or saw_web1_alone, "scale-down passed unobserved"
    assert get_pod(node, ns, "web-0")["metadata"]["uid"] == again["web-0"]["uid"]
    wait_for(lambda: (json.loads(node.kubectl("get", "sts", "web", "-n", ns, "-o", "json").stdout)
                      .get("status") or {}).get("readyReplicas") == 1, what="status readyReplicas 1")


def test_volume_claim_templates_give_each_pod_stable_storage(node, ns):
    if node.kubectl("get", "storageclass", "local-path", check=False).returncode != 0:
        pytest.skip("no StorageClass local-path (needs the local-path provisioner)")
    apply(node, ns, _service())
    apply(node, ns, _sts(2, claims=True))
    require_controller(node, ns)
    wait_for(lambda: all_ready(node, ns, ["web-0", "web-1"]), timeout=90, what="web-0 and web-1 ready")
    for n in range(2):
        claim = json.loads(node.kubectl("get", "pvc", f"data-web-{n}", "-n", ns, "-o", "json").stdout)
        assert claim["status"]["phase"] == "Bound"
        vols = {v["name"]: v for v in get_pod(node, ns, f"web-{n}")["spec"]["volumes"]}
        assert vols["data"]["persistentVolumeClaim"]["claimName"] == f"data-web-{n}"
        node.kubectl("exec", "-n", ns, f"web-{n}", "--", "sh", "-c", f"echo web-{n} > /data/who")
    old = get_pod(node, ns, "web-0")["metadata"]["uid"]
    node.kubectl("delete", "pod", "-n", ns, "web-0", "--wait=false")
    wait_for(lambda: (lambda s: s and s["web-0"]["uid"] != old)(all_ready(node, ns, ["web-0", "web-1"])),
             timeout=60, what="web-0 replaced")
    # the replacement mounts the same claim: the data written by its predecessor is there
    out = node.kubectl("exec", "-n", ns, "web-0", "--", "cat", "/data/who").stdout.strip()
    assert out == "web-0"


def test_stable_network_identity_resolves_by_name(node, ns):
    """A StatefulSet pod's DNS name resolves from another pod to its current IP, before and after
    the pod is recreated (cluster DNS: records follow the EndpointSlices)."""
    import json as _json
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
           "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "redis", "port": 6379}]}}
    sts_obj = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
               "spec": {"serviceName": "db", "replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                        "template": {"metadata": {"labels": {"app": "db"}},
                                     "spec": {"terminationGracePeriodSeconds": 1,
                                              "containers": [{"name": "redis", "image": "redis:7"}]}}}}
    apply(node, ns, svc)
    apply(node, ns, sts_obj)
    for n in ("db-0", "db-1"):
        node.kubectl("wait", "-n", ns, "--for=condition=Ready", f"pod/{n}", "--timeout=60s")
    fqdn = f"db-0.db.{ns}.svc.cluster.local"

    def resolved() -> str:
        r = node.kubectl("exec", "-n", ns, "db-1", "--", "getent", "hosts", fqdn, check=False)
        return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else ""

    def ip_of(name: str) -> str:
        p = _json.loads(node.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)
        return p["status"].get("podIP", "")
    first_ip = ip_of("db-0")
    assert wait_for(lambda: (lambda r: r if r == first_ip else "")(resolved()), timeout=10,
                    what="db-0's name to resolve") == first_ip
    # the short name via the search path (ClusterFirst: <ns>.svc.cluster.local first)
    r = node.kubectl("exec", "-n", ns, "db-1", "--", "redis-cli", "-h", "db-0.db", "ping")
    assert r.stdout.strip() == "PONG"
    uid = _json.loads(node.kubectl("get", "pod", "db-0", "-n", ns, "-o", "json").stdout)["metadata"]["uid"]
    node.kubectl("delete", "pod", "db-0", "-n", ns)
    wait_for(lambda: _json.loads(node.kubectl("get", "pod", "db-0", "-n", ns, "-o", "json", check=False).stdout
                                 or "{}").get("metadata", {}).get("uid") not in (None, uid), what="a new db-0")
    node.kubectl("wait", "-n", ns, "--for=condition=Ready", "pod/db-0", "--timeout=60s")
    new_ip = ip_of("db-0")
    assert wait_for(lambda: (lambda r: r if r == new_ip else "")(resolved()), timeout=10,
                    what="db-0's name to follow the new pod") == new_ip
