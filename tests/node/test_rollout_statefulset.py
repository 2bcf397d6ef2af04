"""StatefulSet rollouts on real processes, driven by the real kubectl: `rollout status`,
`rollout history`, `rollout undo` (pods return to the previous template, highest ordinal
first), `rollout restart` (pods replaced one at a time, highest ordinal first), a partitioned
RollingUpdate (only ordinals >= partition move), and `scale --replicas=0` (ordered, to none).
kubectl's messages are checked against upstream's (kubectl pkg/polymorphichelpers)."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.node.conftest import apply, get_pod, wait_for
from tests.node.test_statefulset import Snapshot, Watcher, all_ready, require_controller, snapshot

NAMES = ["web-0", "web-1", "web-2"]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


def _service() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"},
                     "ports": [{"name": "redis", "port": 6379}]}}


def _sts(color: str, partition: int | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": 3, "serviceName": "web", "podManagementPolicy": "OrderedReady",
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"terminationGracePeriodSeconds": 1,
                              "containers": [{"name": "redis", "image": "redis:7",
                                              "env": [{"name": "COLOR", "value": color}]}]}}}
    if partition is not None:
        spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"}, "spec": spec}


def start(node, ns: str, color: str = "red", partition: int | None = None) -> Snapshot:
    apply(node, ns, _service())
    apply(node, ns, _sts(color, partition))
    require_controller(node, ns)
    return wait_for(lambda: all_ready(node, ns, NAMES), timeout=90, what="web-0..2 Running+Ready")


def sts(node, ns: str) -> dict[str, Any]:
    return json.loads(node.kubectl("get", "sts", "web", "-n", ns, "-o", "json").stdout)


def colors(node, ns: str) -> dict[str, str]:
    """COLOR of each pod, as the running redis process sees it (its real environment)."""
    out = {}
    for name in NAMES:
        out[name] = node.kubectl("exec", "-n", ns, name, "--", "sh", "-c", "echo $COLOR").stdout.strip()
    return out


def rollout_status(node, ns: str) -> str:
    return node.kubectl("rollout", "status", "statefulset/web", "-n", ns, "--timeout=90s",
                        timeout=120).stdout


def replaced_all(node, ns: str, before: Snapshot) -> Snapshot | None:
    snap = all_ready(node, ns, NAMES)
    return snap if snap and all(snap[n]["uid"] != before[n]["uid"] for n in NAMES) else None


def touched_order(seen: list[Snapshot], before: Snapshot) -> list[str]:
    """Pods in the order the watcher first saw each one leave (terminating, gone or new uid)."""
    first: dict[str, int] = {}
    for i, snap in enumerate(seen):
        for name in NAMES:
            s = snap.get(name)
            if name not in first and (s is None or s["terminating"] or s["uid"] != before[name]["uid"]):
                first[name] = i
    # two pods first seen gone in the same snapshot left between two polls (a slow poll under
    # load): that tells no order, so ties read highest ordinal first; the one-at-a-time
    # invariants are checked on every snapshot separately
    return sorted(first, key=lambda n: (first[n], -int(n.rsplit("-", 1)[1])))


def assert_one_at_a_time(seen: list[Snapshot]) -> None:
    for snap in seen:
        down = [n for n in NAMES if not (snap.get(n) or {}).get("ready") or snap[n]["terminating"]]
        assert len(down) <= 1, f"more than one pod down at once: {snap}"


def revisions(history: str) -> list[int]:
    assert "REVISION  CHANGE-CAUSE" in history, history
    return [int(m.group(1)) for m in re.finditer(r"^(\d+)\s+<none>$", history, re.M)]


def test_rollout_status_history_undo_and_restart(node, ns):
    first = start(node, ns, "red")
    # the apps/v1 defaults give RollingUpdate a partition of 0, so upstream's kubectl takes the
    # partitioned branch of StatefulSetStatusViewer even for a plain rolling update
    assert rollout_status(node, ns) == "partitioned roll out complete: 3 new pods have been updated...\n"
    assert colors(node, ns) == dict.fromkeys(NAMES, "red")

    out = node.kubectl("set", "env", "statefulset/web", "-n", ns, "COLOR=blue").stdout
    assert out.strip() == "statefulset.apps/web env updated"
    with Watcher(node, ns) as watch:
        assert rollout_status(node, ns).endswith("partitioned roll out complete: 3 new pods have been updated...\n")
        second = wait_for(lambda: replaced_all(node, ns, first), timeout=90, what="all pods blue")
    assert touched_order(watch.seen, first) == ["web-2", "web-1", "web-0"]
    assert_one_at_a_time(watch.seen)
    assert colors(node, ns) == dict.fromkeys(NAMES, "blue")

    history = node.kubectl("rollout", "history", "statefulset/web", "-n", ns).stdout
    assert history.startswith("statefulset.apps/web \n"), history
    assert revisions(history) == [1, 2]
    rev1 = node.kubectl("rollout", "history", "statefulset/web", "-n", ns, "--revision=1").stdout
    assert "statefulset.apps/web with revision #1" in rev1 and "COLOR:\tred" in rev1, rev1

    out = node.kubectl("rollout", "undo", "statefulset/web", "-n", ns).stdout
    assert out.strip() == "statefulset.apps/web rolled back"
    with Watcher(node, ns) as watch:
        rollout_status(node, ns)
        third = wait_for(lambda: replaced_all(node, ns, second), timeout=90, what="pods back to red")
    assert touched_order(watch.seen, second) == ["web-2", "web-1", "web-0"]
    assert_one_at_a_time(watch.seen)
    assert colors(node, ns) == dict.fromkeys(NAMES, "red")
    for name in NAMES:
        c = get_pod(node, ns, name)["spec"]["containers"][0]
        assert (c["image"], c["env"]) == ("redis:7", [{"name": "COLOR", "value": "red"}])
    # a rollback renumbers the old revision (upstream getStatefulSetRevisions): 1 becomes 3
    history = node.kubectl("rollout", "history", "statefulset/web", "-n", ns).stdout
    assert revisions(history) == [2, 3]
    status = sts(node, ns)["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert status["updateRevision"] == get_pod(node, ns, "web-0")["metadata"]["labels"]["controller-revision-hash"]

    out = node.kubectl("rollout", "restart", "statefulset/web", "-n", ns).stdout
    assert out.strip() == "statefulset.apps/web restarted"
    with Watcher(node, ns) as watch:
        rollout_status(node, ns)
        wait_for(lambda: replaced_all(node, ns, third), timeout=90, what="restarted pods")
    assert touched_order(watch.seen, third) == ["web-2", "web-1", "web-0"]
    assert_one_at_a_time(watch.seen)
    stamp = sts(node, ns)["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
    for name in NAMES:
        assert get_pod(node, ns, name)["metadata"]["annotations"][RESTARTED_AT] == stamp
    assert colors(node, ns) == dict.fromkeys(NAMES, "red")
    assert revisions(node.kubectl("rollout", "history", "statefulset/web", "-n", ns).stdout) == [2, 3, 4]


def test_partition_updates_only_ordinals_at_or_above_it(node, ns):
    first = start(node, ns, "red", partition=2)
    node.kubectl("set", "env", "statefulset/web", "-n", ns, "COLOR=blue")
    out = rollout_status(node, ns)
    assert out.endswith("partitioned roll out complete: 1 new pods have been updated...\n"), out
    snap = wait_for(lambda: (lambda s: s if s and s["web-2"]["uid"] != first["web-2"]["uid"] else None)(
        all_ready(node, ns, NAMES)), timeout=60, what="web-2 updated")
    assert [snap[n]["uid"] == first[n]["uid"] for n in NAMES] == [True, True, False]
    assert colors(node, ns) == {"web-0": "red", "web-1": "red", "web-2": "blue"}
    status = sts(node, ns)["status"]
    assert status["currentRevision"] != status["updateRevision"]
    assert (status["updatedReplicas"], status["currentReplicas"], status["readyReplicas"]) == (1, 2, 3)
    labels = {n: get_pod(node, ns, n)["metadata"]["labels"]["controller-revision-hash"] for n in NAMES}
    assert labels == {"web-0": status["currentRevision"], "web-1": status["currentRevision"],
                      "web-2": status["updateRevision"]}

    # lowering the partition to 0 finishes the rollout: web-1, then web-0
    node.kubectl("patch", "statefulset/web", "-n", ns, "-p",
                 json.dumps({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}}))
    with Watcher(node, ns) as watch:
        assert rollout_status(node, ns).endswith("partitioned roll out complete: 3 new pods have been updated...\n")
        wait_for(lambda: (lambda s: s if s and all(s[n]["uid"] != first[n]["uid"] for n in NAMES) else None)(
            all_ready(node, ns, NAMES)), timeout=90, what="all pods updated")
    assert touched_order(watch.seen, snap)[:2] == ["web-1", "web-0"]
    assert colors(node, ns) == dict.fromkeys(NAMES, "blue")


def test_scale_to_zero_removes_pods_highest_ordinal_first(node, ns):
    first = start(node, ns, "red")
    with Watcher(node, ns) as watch:
        out = node.kubectl("scale", "sts", "web", "-n", ns, "--replicas=0").stdout
        assert out.strip() == "statefulset.apps/web scaled"
        wait_for(lambda: not snapshot(node, ns), timeout=60, what="no pods left")
    assert touched_order(watch.seen, first) == ["web-2", "web-1", "web-0"]
    # OrderedReady: a pod starts terminating only once every higher ordinal is gone
    for snap in watch.seen:
        for n in (0, 1):
            if (snap.get(f"web-{n}") or {}).get("terminating"):
                assert not any(f"web-{m}" in snap for m in range(n + 1, 3)), snap
    wait_for(lambda: (lambda s: s.get("replicas") == 0 and not s.get("readyReplicas"))(
        sts(node, ns).get("status") or {}), what="status replicas 0")
    assert rollout_status(node, ns) == "partitioned roll out complete: 0 new pods have been updated...\n"
