"""Service NodePorts against a real server: allocation, refusals, type changes, idempotent
apply and the PORT(S) column, with the real kubectl and the official Python client.

Explicit nodePorts come from the static band (30000-30085), which dynamic allocation leaves
alone while the upper band has room, so they cannot collide with other tests' services."""

from __future__ import annotations

import json
import re
import textwrap

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

MINORS = [31, 32, 33]

NODEPORT_SVC = textwrap.dedent("""\
    apiVersion: v1
    kind: Service
    metadata:
      name: web
    spec:
      type: NodePort
      selector: {app: web}
      ports:
      - port: 80
        targetPort: 8080
    """)


@pytest.fixture
def core(cluster):
    cfg = client.Configuration()
    config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield client.CoreV1Api(api_client)


def _svc(name: str, node_port: int | None = None, type_: str = "NodePort") -> client.V1Service:
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(type=type_, selector={"app": name}, ports=[
            client.V1ServicePort(port=80, target_port=8080, node_port=node_port)]))


def _get(cluster, namespace: str, name: str) -> dict:
    return json.loads(cluster.kubectl("-n", namespace, "get", "svc", name, "-o", "json").stdout)


@pytest.mark.parametrize("minor", MINORS, ids=[f"kubectl-1.{m}" for m in MINORS])
def test_apply_twice_keeps_the_node_port_and_shows_it(cluster, namespace, minor):
    def kc(*args, input=None):
        return cluster.kubectl("-n", namespace, *args, minor=minor, input=input)
    assert kc("apply", "-f", "-", input=NODEPORT_SVC).stdout == "service/web created\n"
    first = _get(cluster, namespace, "web")["spec"]
    node_port = first["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767 and first["clusterIP"]
    assert kc("apply", "-f", "-", input=NODEPORT_SVC).stdout == "service/web unchanged\n"
    changed = NODEPORT_SVC.replace("targetPort: 8080", "targetPort: 9090")
    assert kc("apply", "-f", "-", input=changed).stdout == "service/web configured\n"
    again = _get(cluster, namespace, "web")["spec"]
    assert again["ports"][0]["nodePort"] == node_port and again["clusterIP"] == first["clusterIP"]
    table = kc("get", "svc", "web").stdout.splitlines()
    assert re.split(r"\s{2,}", table[0].strip()) == [
        "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    row = re.split(r"\s{2,}", table[1].strip())
    assert row[:5] == ["web", "NodePort", first["clusterIP"], "<none>", f"80:{node_port}/TCP"]


def test_replace_with_the_creating_manifest_keeps_allocations(cluster, namespace):
    cluster.kubectl("-n", namespace, "create", "-f", "-", input=NODEPORT_SVC)
    before = _get(cluster, namespace, "web")["spec"]
    cluster.kubectl("-n", namespace, "replace", "-f", "-", input=NODEPORT_SVC)
    after = _get(cluster, namespace, "web")["spec"]
    assert after["ports"][0]["nodePort"] == before["ports"][0]["nodePort"]
    assert after["clusterIPs"] == before["clusterIPs"] and after["ipFamilies"] == ["IPv4"]


def test_explicit_conflict_out_of_range_and_delete_frees(cluster, core, namespace):
    made = core.create_namespaced_service(namespace, _svc("a", 30010))
    assert made.spec.ports[0].node_port == 30010
    for name, port, msg in [
        ("b", 30010, "spec.ports[0].nodePort: Invalid value: 30010: provided port is already allocated"),
        ("c", 32768, "spec.ports[0].nodePort: Invalid value: 32768: provided port is not in the "
                     "valid range. The range of valid ports is 30000-32767"),
    ]:
        with pytest.raises(ApiException) as e:
            core.create_namespaced_service(namespace, _svc(name, port))
        body = json.loads(e.value.body)
        assert e.value.status == 422 and body["reason"] == "Invalid"
        assert body["message"] == f'Service "{name}" is invalid: {msg}'
        assert body["details"]["causes"][0]["field"] == "spec.ports[0].nodePort"
    cluster.kubectl("-n", namespace, "delete", "svc", "a")
    again = core.create_namespaced_service(namespace, _svc("b", 30010))
    assert again.spec.ports[0].node_port == 30010


def test_type_changes_both_ways(cluster, namespace):
    def kc(*args, input=None):
        return cluster.kubectl("-n", namespace, *args, input=input)
    kc("create", "-f", "-", input=NODEPORT_SVC)
    ip = _get(cluster, namespace, "web")["spec"]["clusterIP"]
    kc("patch", "svc", "web", "-p", '{"spec":{"type":"ClusterIP"}}')
    spec = _get(cluster, namespace, "web")["spec"]
    assert spec["type"] == "ClusterIP" and "nodePort" not in spec["ports"][0] and spec["clusterIP"] == ip
    kc("patch", "svc", "web", "-p", '{"spec":{"type":"NodePort"}}')
    spec = _get(cluster, namespace, "web")["spec"]
    assert 30000 <= spec["ports"][0]["nodePort"] <= 32767 and spec["clusterIP"] == ip
    kc("patch", "svc", "web", "-p", '{"spec":{"type":"ExternalName","externalName":"example.com"}}')
    spec = _get(cluster, namespace, "web")["spec"]
    assert "clusterIP" not in spec and "nodePort" not in spec["ports"][0]
    assert "ipFamilies" not in spec
    kc("patch", "svc", "web", "-p", '{"spec":{"type":"ClusterIP","externalName":null}}')
    spec = _get(cluster, namespace, "web")["spec"]
    assert spec["clusterIP"] and spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"


def test_load_balancer_local_gets_a_health_check_port(core, namespace):
    svc = _svc("lb", type_="LoadBalancer")
    svc.spec.external_traffic_policy = "Local"
    made = core.create_namespaced_service(namespace, svc)
    hc = made.spec.health_check_node_port
    assert 30000 <= hc <= 32767 and hc != made.spec.ports[0].node_port
    patched = core.patch_namespaced_service("lb", namespace, {"spec": {"externalTrafficPolicy": "Cluster"}})
    assert patched.spec.health_check_node_port is None
    assert patched.spec.ports[0].node_port == made.spec.ports[0].node_port


def test_cluster_ip_may_not_change(cluster, namespace):
    cluster.kubectl("-n", namespace, "create", "-f", "-", input=NODEPORT_SVC)
    ip = _get(cluster, namespace, "web")["spec"]["clusterIP"]
    other = "10.96.250.250" if ip != "10.96.250.250" else "10.96.250.251"
    res = cluster.kubectl("-n", namespace, "patch", "svc", "web", "-p",
                          json.dumps({"spec": {"clusterIP": other, "clusterIPs": [other]}}), check=False)
    assert res.returncode != 0
    assert "spec.clusterIPs[0]: Invalid value:" in res.stderr and "may not change once set" in res.stderr


def test_server_side_apply_keeps_the_node_port_and_type_change_drops_it(cluster, namespace):
    def apply(manifest: str) -> dict:
        cluster.kubectl("-n", namespace, "apply", "--server-side", "-f", "-", input=manifest)
        return _get(cluster, namespace, "web")["spec"]
    first = apply(NODEPORT_SVC)
    assert apply(NODEPORT_SVC)["ports"][0]["nodePort"] == first["ports"][0]["nodePort"]
    as_cluster_ip = apply(NODEPORT_SVC.replace("type: NodePort", "type: ClusterIP"))
    assert "nodePort" not in as_cluster_ip["ports"][0]
    assert "externalTrafficPolicy" not in as_cluster_ip and as_cluster_ip["clusterIP"] == first["clusterIP"]
