"""Stateless workloads on real processes: ReplicaSet and ReplicationController pods get random
names, are replaced with new names, and scale down in upstream's victim order."""

from __future__ import annotations

import ipaddress
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


def test_pvc_binds_on_first_consumer_and_outlives_its_pod(node, ns):
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    apply(node, ns, claim)
    pvc = json.loads(node.kubectl("get", "pvc", "data", "-n", ns, "-o", "json").stdout)
    assert pvc["spec"]["storageClassName"] == "local-path"  # the default class, by admission
    assert pvc["status"]["phase"] == "Pending"  # WaitForFirstConsumer
    writer = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "writer"},
              "spec": {"restartPolicy": "Never", "securityContext": {"fsGroup": 2000},
                       "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", "echo kept > /data/f"],
                                       "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
                       "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}}
    apply(node, ns, writer)
    wait_for(lambda: (get_pod(node, ns, "writer") or {}).get("status", {}).get("phase") == "Succeeded",
             what="the writer to finish")
    pvc = json.loads(node.kubectl("get", "pvc", "data", "-n", ns, "-o", "json").stdout)
    assert pvc["status"]["phase"] == "Bound"
    pv = json.loads(node.kubectl("get", "pv", pvc["spec"]["volumeName"], "-o", "json").stdout)
    path = (pv["spec"].get("local") or pv["spec"].get("hostPath"))["path"]
    import os
    import stat
    st = os.stat(path)
    assert st.st_gid == 2000 and not st.st_mode & stat.S_IWOTH  # fsGroup-owned, never world-writable
    node.kubectl("delete", "pod", "writer", "-n", ns)
    reader = json.loads(json.dumps(writer))
    reader["metadata"]["name"] = "reader"
    reader["spec"]["containers"][0]["command"] = ["cat", "/data/f"]
    apply(node, ns, reader)
    wait_for(lambda: (get_pod(node, ns, "reader") or {}).get("status", {}).get("phase") == "Succeeded",
             what="the reader to finish")
    assert node.kubectl("logs", "reader", "-n", ns).stdout == "kept\n"
    node.kubectl("delete", "pod", "reader", "-n", ns)
    node.kubectl("delete", "pvc", "data", "-n", ns)
    wait_for(lambda: not os.path.exists(path), what="reclaim Delete removes the directory")


def test_deployment_rolls_out_on_real_pods(node, ns):
    import os
    manifest = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "web-deployment.yaml")
    node.kubectl("apply", "-n", ns, "-f", manifest)
    out = node.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s").stdout
    assert 'deployment "web" successfully rolled out' in out
    first = _running(node, ns)
    assert len(first) == 3 and all(re.match(r"^web-[a-z0-9]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}$", n)
                                   for n in first), first
    node.kubectl("set", "env", "deployment/web", "-n", ns, "COLOR=blue")
    node.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    second = wait_for(lambda: (lambda r: r if len(r) == 3 and not set(r) & set(first) else None)(
        _running(node, ns)), what="three new pods")
    assert {n.rsplit("-", 1)[0] for n in second} != {n.rsplit("-", 1)[0] for n in first}  # new RS
    history = node.kubectl("rollout", "history", "deployment/web", "-n", ns).stdout
    assert "1 " in history and "2 " in history
    node.kubectl("rollout", "undo", "deployment/web", "-n", ns)
    node.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    third = wait_for(lambda: (lambda r: r if len(r) == 3 and not set(r) & set(second) else None)(
        _running(node, ns)), what="pods of the first template again")
    assert {n.rsplit("-", 1)[0] for n in third} == {n.rsplit("-", 1)[0] for n in first}


def test_disruption_budget_limits_evictions_of_real_pods(node, ns):
    apply(node, ns, _rs(3))
    wait_for(lambda: len(_running(node, ns)) == 3 and json.loads(node.kubectl(
        "get", "rs", "web", "-n", ns, "-o", "json").stdout)["status"].get("readyReplicas") == 3,
        what="3 ready pods")
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
           "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}
    apply(node, ns, pdb)
    wait_for(lambda: json.loads(node.kubectl("get", "pdb", "web", "-n", ns, "-o", "json").stdout)
             .get("status", {}).get("disruptionsAllowed") == 1, what="disruptionsAllowed 1")
    names = _running(node, ns)
    evict = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": names[0], "namespace": ns}}
    code, _ = node.request("POST", f"/api/v1/namespaces/{ns}/pods/{names[0]}/eviction", evict)
    assert code == 201
    # (the ReplicaSet's replacement soon makes the budget allow one again: ask for all three)
    node.kubectl("patch", "pdb", "web", "-n", ns, "--type=merge", "-p", '{"spec":{"minAvailable":3}}')

    def budget_used() -> bool:
        pdb = json.loads(node.kubectl("get", "pdb", "web", "-n", ns, "-o", "json").stdout)
        st = pdb.get("status", {})
        return st.get("observedGeneration") == pdb["metadata"]["generation"] and st.get("disruptionsAllowed") == 0
    wait_for(budget_used, what="no disruption allowed")
    evict["metadata"]["name"] = names[1]
    code, body = node.request("POST", f"/api/v1/namespaces/{ns}/pods/{names[1]}/eviction", evict)
    assert code == 429 and "disruption budget" in body["message"]


def test_services_get_cluster_ips_and_endpoint_slices_follow_ready_pods(node, ns):
    apply(node, ns, _rs(2))
    wait_for(lambda: len(_running(node, ns)) == 2, what="2 running pods")
    node.kubectl("expose", "rs", "web", "-n", ns, "--port=6379")
    svc = json.loads(node.kubectl("get", "svc", "web", "-n", ns, "-o", "json").stdout)
    net = ipaddress.ip_network(node.service_cidr)
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in net and svc["spec"]["clusterIPs"] == [svc["spec"]["clusterIP"]]
    out = node.kubectl("create", "service", "clusterip", "dup", "-n", ns, "--tcp=80",
                       f"--clusterip={svc['spec']['clusterIP']}", check=False)
    assert out.returncode == 1 and "provided IP is already allocated" in out.stderr

    def ready_ips() -> list[str]:
        items = json.loads(node.kubectl("get", "endpointslices", "-n", ns, "-l",
                                        "kubernetes.io/service-name=web", "-o", "json").stdout)["items"]
        return sorted(a for s in items for e in s.get("endpoints") or []
                      if (e.get("conditions") or {}).get("ready") for a in e["addresses"])
    pod_ips = sorted(get_pod(node, ns, n)["status"]["podIP"] for n in _running(node, ns))
    assert wait_for(lambda: (lambda r: r if r == pod_ips else None)(ready_ips()), what="slice") == pod_ips
    eps = json.loads(node.kubectl("get", "endpoints", "web", "-n", ns, "-o", "json").stdout)
    assert sorted(a["ip"] for a in eps["subsets"][0]["addresses"]) == pod_ips
    kube = json.loads(node.kubectl("get", "svc", "kubernetes", "-n", "default", "-o", "json").stdout)
    assert kube["spec"]["clusterIP"] == str(net.network_address + 1)
