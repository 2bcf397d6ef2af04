"""Stateless workloads on real processes: ReplicaSet and ReplicationController pods get random
names, are replaced with new names, and scale down in upstream's victim order."""

from __future__ import annotations

import json
import re

from tests.node.conftest import apply, get_pod, wait_for

NAME = re.compile(r"^web-[bcdfghjklmnpqrstvwxz2456789]{5}$")


def _rs(replicas: int, kind: str = "ReplicaSet") -> dict:
    selector = {"matchLabels": {"app": "web"}} if kind == "ReplicaSet" else {"app": "web"}
    return {"apiVersion": "apps/v1" if kind == "ReplicaSet" else "v1", "kind": kind,
            "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": selector,
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "web", "image": "redis:7"}]}}}}


def _running(inst, ns) -> list[str]:
    out = json.loads(inst.kubectl("get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)
    return sorted(p["metadata"]["name"] for p in out["items"]
                  if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp"))


def test_replicaset_pods_are_interchangeable_and_replaced_with_new_names(node, ns):
    apply(node, ns, _rs(3))
    names = wait_for(lambda: (lambda r: r if len(r) == 3 else None)(_running(node, ns)),
                     what="3 running pods")
    assert all(NAME.match(n) for n in names), names
    node.kubectl("delete", "pod", "-n", ns, names[0])
    after = wait_for(lambda: (lambda r: r if len(r) == 3 and names[0] not in r else None)(_running(node, ns)),
                     what="a replacement pod")
    new = set(after) - set(names)
    assert len(new) == 1 and NAME.match(new.pop())
    node.kubectl("scale", "rs", "web", "-n", ns, "--replicas=1")
    wait_for(lambda: len(_running(node, ns)) == 1, what="scale down to 1")
    rs = json.loads(node.kubectl("get", "rs", "web", "-n", ns, "-o", "json").stdout)
    wait_for(lambda: json.loads(node.kubectl("get", "rs", "web", "-n", ns, "-o", "json").stdout)
             ["status"].get("readyReplicas") == 1, what="status readyReplicas 1")
    assert rs["spec"]["replicas"] == 1


def test_replication_controller_scales_with_kubectl(node, ns):
    apply(node, ns, _rs(2, "ReplicationController"))
    wait_for(lambda: len(_running(node, ns)) == 2, what="2 running pods")
    node.kubectl("scale", "rc", "web", "-n", ns, "--replicas=3")
    wait_for(lambda: len(_running(node, ns)) == 3, what="3 running pods")
    pod = get_pod(node, ns, _running(node, ns)[0])
    ref = pod["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["name"], ref["controller"]) == ("ReplicationController", "web", True)
