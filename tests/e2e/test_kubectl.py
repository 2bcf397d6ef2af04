"""The real kubectl (1.31, 1.32, 1.33, each run directly) against a real kubeproc: each command
prints what it prints against a real cluster."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
import time

import pytest
import yaml

from kubeproc.testing.instance import kubectl_binary, wait_for

MINORS = [31, 32, 33]

DEPLOYMENT = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
      labels: {app: web}
    spec:
      replicas: 2
      selector:
        matchLabels: {app: web}
      template:
        metadata:
          labels: {app: web}
        spec:
          containers:
          - name: web
            image: nginx:1.27
            ports:
            - containerPort: 80
    """)


@pytest.fixture(params=MINORS, ids=[f"kubectl-1.{m}" for m in MINORS])
def kc(request, cluster, namespace):
    minor = request.param

    def run(*args, input=None, check=True):
        return cluster.kubectl("-n", namespace, *args, minor=minor, input=input, check=check)
    run.minor = minor
    run.ns = namespace
    return run


def test_api_resources_lists_served_kinds(kc):
    out = kc("api-resources").stdout
    assert re.search(r"^statefulsets\s+sts\s+apps/v1\s+true\s+StatefulSet$", out, re.M), out
    assert re.search(r"^pods\s+po\s+v1\s+true\s+Pod$", out, re.M)
    assert re.search(r"^namespaces\s+ns\s+v1\s+false\s+Namespace$", out, re.M)
    assert re.search(r"^poddisruptionbudgets\s+pdb\s+policy/v1\s+true\s+PodDisruptionBudget$", out, re.M)
    assert re.search(r"^leases\s+coordination.k8s.io/v1\s+true\s+Lease$", out, re.M)


def test_create_and_get_in_every_format(kc):
    assert kc("create", "configmap", "cfg", "--from-literal=a=1", "--from-literal=b=2").stdout \
        == "configmap/cfg created\n"
    out = kc("get", "configmap", "cfg").stdout.splitlines()
    assert re.match(r"NAME\s+DATA\s+AGE$", out[0]), out
    assert re.match(r"cfg\s+2\s+\d+s$", out[1]), out
    obj = yaml.safe_load(kc("get", "cm", "cfg", "-o", "yaml").stdout)
    assert obj["data"] == {"a": "1", "b": "2"}
    assert obj["metadata"]["namespace"] == kc.ns and obj["metadata"]["uid"]
    obj = json.loads(kc("get", "cm", "cfg", "-o", "json").stdout)
    assert obj["kind"] == "ConfigMap" and int(obj["metadata"]["resourceVersion"]) > 0
    assert kc("get", "cm", "cfg", "-o", "jsonpath={.data.b}").stdout == "2"
    names = kc("get", "cm", "-o", "jsonpath={.items[*].metadata.name}").stdout.split()
    assert "cfg" in names


def test_deployment_columns_and_wide(kc):
    kc("apply", "-f", "-", input=DEPLOYMENT)
    out = kc("get", "deploy", "web").stdout.splitlines()
    assert re.match(r"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$", out[0]), out
    # the Deployment controller runs (UP-TO-DATE follows it); no agent here, so nothing is READY
    assert re.match(r"web\s+0/2\s+[0-2]\s+0\s+\d+s$", out[1]), out
    wide = kc("get", "deploy", "web", "-o", "wide").stdout.splitlines()
    assert re.match(r"NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$",
                    wide[0]), wide
    assert re.search(r"\sweb\s+nginx:1.27\s+app=web$", wide[1]), wide


def test_apply_create_then_patch_then_unchanged(kc):
    assert kc("apply", "-f", "-", input=DEPLOYMENT).stdout == "deployment.apps/web created\n"
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 4").replace("image: nginx:1.27", "image: nginx:1.28")
    assert kc("apply", "-f", "-", input=changed).stdout == "deployment.apps/web configured\n"
    obj = json.loads(kc("get", "deploy", "web", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 4
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert obj["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in obj["metadata"]["annotations"]
    assert kc("apply", "-f", "-", input=changed).stdout == "deployment.apps/web unchanged\n"


def test_server_side_apply(kc):
    assert kc("apply", "--server-side", "-f", "-", input=DEPLOYMENT).stdout \
        == "deployment.apps/web serverside-applied\n"
    changed = DEPLOYMENT.replace("replicas: 2", "replicas: 3")
    assert kc("apply", "--server-side", "-f", "-", input=changed).stdout \
        == "deployment.apps/web serverside-applied\n"
    obj = json.loads(kc("get", "deploy", "web", "-o", "json", "--show-managed-fields").stdout)
    assert obj["spec"]["replicas"] == 3
    managers = {(m["manager"], m["operation"]) for m in obj["metadata"]["managedFields"]}
    assert ("kubectl", "Apply") in managers
    # another manager changing an applied field conflicts
    res = kc("apply", "--server-side", "--field-manager=other", "-f", "-",
             input=DEPLOYMENT.replace("replicas: 2", "replicas: 5"), check=False)
    assert res.returncode != 0
    assert "conflict" in res.stderr.lower() and ".spec.replicas" in res.stderr


def test_create_replace_and_three_patch_types(kc):
    kc("create", "-f", "-", input=DEPLOYMENT)
    obj = yaml.safe_load(kc("get", "deploy", "web", "-o", "yaml").stdout)
    obj["spec"]["replicas"] = 1
    assert kc("replace", "-f", "-", input=yaml.safe_dump(obj)).stdout == "deployment.apps/web replaced\n"
    assert kc("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}').stdout \
        == "deployment.apps/web patched\n"
    assert kc("patch", "deploy", "web", "--type=json",
              "-p", '[{"op":"add","path":"/spec/minReadySeconds","value":5}]').stdout \
        == "deployment.apps/web patched\n"
    assert kc("patch", "deploy", "web", "-p",
              '{"spec":{"template":{"spec":{"containers":[{"name":"side","image":"busybox"}]}}}}').stdout \
        == "deployment.apps/web patched\n"
    obj = json.loads(kc("get", "deploy", "web", "-o", "json").stdout)
    assert obj["spec"]["replicas"] == 3 and obj["spec"]["minReadySeconds"] == 5
    assert [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]] == ["side", "web"]
    res = kc("patch", "deploy", "web", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    assert res.stdout == "deployment.apps/web patched (no change)\n"


def test_label_annotate_scale(kc):
    kc("apply", "-f", "-", input=DEPLOYMENT)
    assert kc("label", "deploy", "web", "tier=front").stdout == "deployment.apps/web labeled\n"
    assert kc("annotate", "deploy", "web", "note=hi").stdout == "deployment.apps/web annotated\n"
    assert kc("scale", "deploy", "web", "--replicas=5").stdout == "deployment.apps/web scaled\n"
    obj = json.loads(kc("get", "deploy", "web", "-o", "json").stdout)
    assert obj["metadata"]["labels"]["tier"] == "front"
    assert obj["metadata"]["annotations"]["note"] == "hi"
    assert obj["spec"]["replicas"] == 5
    assert kc("get", "deploy", "-l", "tier=front", "-o", "name").stdout == "deployment.apps/web\n"
    assert kc("get", "deploy", "-l", "tier=back", "-o", "name").stdout == ""


def _owned_configmap(kc, owner_uid: str, name: str, block: bool = False) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": name, "ownerReferences": [{
              "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner_uid,
              "blockOwnerDeletion": block}]}}
    kc("create", "-f", "-", input=json.dumps(cm))


@pytest.mark.parametrize("cascade", ["orphan", "background", "foreground"])
def test_delete_cascade_modes(kc, cascade):
    kc("apply", "-f", "-", input=DEPLOYMENT)
    uid = kc("get", "deploy", "web", "-o", "jsonpath={.metadata.uid}").stdout
    _owned_configmap(kc, uid, "dep", block=True)
    out = kc("delete", "deploy", "web", f"--cascade={cascade}").stdout
    assert out == 'deployment.apps "web" deleted\n'
    assert kc("get", "deploy", "web", check=False).returncode != 0
    if cascade == "orphan":
        cm = json.loads(kc("get", "cm", "dep", "-o", "json").stdout)
        assert "ownerReferences" not in cm["metadata"]
    else:
        wait_for(lambda: kc("get", "cm", "dep", check=False).returncode != 0,
                 what="dependent deleted by the garbage collector")


def test_wait_for_condition_delete_and_jsonpath(kc, cluster):
    kc("create", "configmap", "waitme")
    kc("apply", "-f", "-", input=DEPLOYMENT)
    kc("run", "p", "--image=nginx:1.27")
    ns = kc.ns
    # no node agent in these instances: the test writes the condition a kubelet would
    status = {"status": {"conditions": [{"type": "Ready", "status": "True",
                                         "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    code, body = cluster.request("PATCH", f"/api/v1/namespaces/{ns}/pods/p/status",
                                 status, content_type="application/merge-patch+json")
    assert code == 200, body
    assert kc("wait", "--for=condition=Ready", "pod/p", "--timeout=10s").stdout \
        == "pod/p condition met\n"
    assert kc("wait", "--for=jsonpath={.spec.replicas}=2", "deploy/web", "--timeout=10s").stdout \
        == "deployment.apps/web condition met\n"
    watching = cluster.open_watches("configmaps")
    waiter = subprocess.Popen([kubectl_binary(kc.minor), "-n", ns, "wait", "--for=delete",
                               "configmap/waitme", "--timeout=20s"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              env=cluster.kubectl_env())
    # kubectl wait on an object that is already gone exits 0 without printing: delete only once
    # the waiter is watching (it has read the object by then)
    wait_for(lambda: cluster.open_watches("configmaps") > watching, timeout=20,
             what="kubectl wait to open its watch")
    kc("delete", "configmap", "waitme")
    out, err = waiter.communicate(timeout=30)
    assert waiter.returncode == 0, err
    assert out == "configmap/waitme condition met\n"


def test_get_watch_streams_changes(kc, cluster):
    import queue
    import threading
    kc("create", "configmap", "first", "--from-literal=k=v")
    proc = subprocess.Popen([kubectl_binary(kc.minor), "-n", kc.ns, "get", "cm", "-w",
                             "--request-timeout=0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cluster.kubectl_env())
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def next_line(what: str) -> str:
        try:
            return lines.get(timeout=15)
        except queue.Empty:
            raise AssertionError(f"kubectl get -w printed no {what}") from None
    try:
        assert re.match(r"NAME\s+DATA\s+AGE", next_line("header"))
        first = next_line("row")
        assert re.match(r"first\s+1\s+\d+s", first), first
        kc("create", "configmap", "watched", "--from-literal=k=v")
        line = first
        deadline = time.monotonic() + 15
        while "watched" not in line and time.monotonic() < deadline:
            line = next_line("event for the new configmap")
        assert re.match(r"watched\s+1\s+\d+s", line), line
    finally:
        proc.kill()
        proc.wait()


def test_describe(kc):
    kc("apply", "-f", "-", input=DEPLOYMENT)
    out = kc("describe", "deploy", "web").stdout
    assert re.search(r"^Name:\s+web$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{kc.ns}$", out, re.M)
    assert re.search(r"^Replicas:\s+2 desired", out, re.M)
    assert re.search(r"^StrategyType:\s+RollingUpdate$", out, re.M)
    assert "nginx:1.27" in out
    out = kc("describe", "namespace", kc.ns).stdout
    assert re.search(r"^Status:\s+Active$", out, re.M), out


def test_explain_statefulset_spec(kc):
    out = kc("explain", "statefulset.spec").stdout
    assert "GROUP:      apps" in out and "KIND:       StatefulSet" in out
    assert re.search(r"^  podManagementPolicy\t<string>$", out, re.M), out
    assert re.search(r"^  volumeClaimTemplates\t<\[\]PersistentVolumeClaim>$", out, re.M)
    assert re.search(r"^  selector\t<LabelSelector> -required-$", out, re.M)


def test_auth_can_i(kc):
    assert kc("auth", "can-i", "create", "pods").stdout == "yes\n"
    assert kc("auth", "can-i", "delete", "statefulsets.apps").stdout == "yes\n"


def test_get_events(kc):
    event = {"apiVersion": "v1", "kind": "Event",
             "metadata": {"name": "web.1"},
             "involvedObject": {"kind": "Deployment", "name": "web", "namespace": kc.ns,
                                "apiVersion": "apps/v1"},
             "reason": "ScalingReplicaSet", "message": "Scaled up replica set web-1 to 2",
             "type": "Normal", "source": {"component": "deployment-controller"},
             "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z",
             "count": 1}
    kc("create", "-f", "-", input=json.dumps(event))
    out = kc("get", "events").stdout.splitlines()
    assert re.match(r"LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$", out[0]), out
    assert re.search(r"Normal\s+ScalingReplicaSet\s+deployment/web\s+Scaled up replica set web-1 to 2$",
                     out[1]), out


def test_protobuf_create_commands(kc):
    """kubectl 1.32+ sends these as protobuf; every version must work."""
    assert kc("create", "secret", "generic", "s1", "--from-literal=p=q").stdout == "secret/s1 created\n"
    assert kc("create", "deployment", "d1", "--image=nginx", "--replicas=3", "--port=80").stdout \
        == "deployment.apps/d1 created\n"
    assert kc("create", "service", "clusterip", "svc1", "--tcp=80:8080").stdout == "service/svc1 created\n"
    assert kc("create", "pdb", "p1", "--selector=app=d1", "--min-available=1").stdout \
        == "poddisruptionbudget.policy/p1 created\n"
    secret = json.loads(kc("get", "secret", "s1", "-o", "json").stdout)
    assert secret["data"] == {"p": "cQ=="} and secret["type"] == "Opaque"
    dep = json.loads(kc("get", "deploy", "d1", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] == 80
    svc = json.loads(kc("get", "svc", "svc1", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["port"] == 80 and svc["spec"]["ports"][0]["targetPort"] == 8080


def test_errors_are_reported_like_a_cluster(kc):
    res = kc("get", "deploy", "nope", check=False)
    assert res.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "nope" not found' in res.stderr
    dup = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}})
    kc("create", "-f", "-", input=dup)
    res = kc("create", "-f", "-", input=dup, check=False)
    assert 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" already exists' in res.stderr
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  bogus: 1")
    res = kc("apply", "-f", "-", input=bad, check=False)
    assert res.returncode != 0
    assert 'unknown field "spec.bogus"' in res.stderr, res.stderr


STATEFULSET = textwrap.dedent("""\
    apiVersion: apps/v1
    kind: StatefulSet
    metadata:
      name: test-redis-pod
    spec:
      serviceName: test-redis-service
      replicas: 3
      selector:
        matchLabels: {app: redis}
      template:
        metadata:
          labels: {app: redis}
        spec:
          containers:
          - name: redis
            image: redis:7
      volumeClaimTemplates:
      - metadata: {name: data}
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
    """)


def test_statefulset_columns_and_immutable_fields(kc):
    kc("apply", "-f", "-", input=STATEFULSET)
    out = kc("get", "sts").stdout.splitlines()
    assert re.match(r"NAME\s+READY\s+AGE$", out[0]), out
    assert re.match(r"test-redis-pod\s+0/3\s+\d+s$", out[1]), out
    res = kc("apply", "-f", "-", input=STATEFULSET.replace("serviceName: test-redis-service",
                                                          "serviceName: other"), check=False)
    assert res.returncode != 0
    assert "Forbidden: updates to statefulset spec for fields other than 'replicas'" in res.stderr


def test_server_dry_run_and_validation_modes(kc):
    out = kc("apply", "--dry-run=server", "-f", "-", input=DEPLOYMENT).stdout
    assert out == "deployment.apps/web created (server dry run)\n"
    assert kc("get", "deploy", "web", check=False).returncode != 0
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  bogus: 1")
    res = kc("apply", "--validate=warn", "-f", "-", input=bad)
    assert 'Warning: unknown field "spec.bogus"' in res.stderr, res.stderr
    assert res.stdout == "deployment.apps/web created\n"
    res = kc("apply", "--validate=strict", "-f", "-", input=bad.replace("replicas: 2", "replicas: 3"),
             check=False)
    assert res.returncode != 0 and 'strict decoding error: unknown field "spec.bogus"' in res.stderr
    assert kc("get", "deploy", "web", "-o", "jsonpath={.spec.replicas}").stdout == "2"


CONFIGMAP_LIST = textwrap.dedent("""\
    apiVersion: v1
    kind: List
    items:
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: a}
      data: {k: v}
    - apiVersion: v1
      kind: ConfigMap
      metadata: {name: b}
    """)


def test_a_list_is_validated_against_openapi_v2_and_created(kc):
    """kubectl validates a `kind: List` with the protobuf /openapi/v2 document (the v3 ones do
    not serve it): the items are created, an unknown field in one is refused with upstream's
    message, and explain reads the same document."""
    bad = CONFIGMAP_LIST.replace("data: {k: v}", "data: {k: v}\n  bogus: 1")
    res = kc("create", "-f", "-", input=bad, check=False)
    assert res.returncode != 0
    assert 'ValidationError(ConfigMap): unknown field "bogus" in io.k8s.api.core.v1.ConfigMap' in res.stderr
    assert kc("get", "configmap", "a", check=False).returncode != 0  # nothing was created
    assert kc("create", "-f", "-", input=CONFIGMAP_LIST).stdout == \
        "configmap/a created\nconfigmap/b created\n"
    out = kc("explain", "--output=plaintext-openapiv2", "pods.spec.restartPolicy").stdout
    assert "FIELD:    restartPolicy <string>" in out
