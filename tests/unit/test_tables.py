"""Server-side Table output: golden cells for the printers ported from upstream printers.go."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from kubeproc.api.resources import by_kind
from kubeproc.apiserver.tables import human_duration, to_table

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def md(name: str = "x", **extra: object) -> dict:
    return {"name": name, "namespace": "default", "creationTimestamp": ago(hours=1),
            "resourceVersion": "7", **extra}


def cells(group: str, kind: str, obj: dict) -> list:
    return to_table(by_kind(group, kind), [obj], NOW)["rows"][0]["cells"]


S, M, H, D = 1, 60, 3600, 86400


# --- human_duration: upstream duration_test.go ---------------------------------------------

@pytest.mark.parametrize("seconds,want", [
    (1, "1s"), (70, "70s"), (190, "3m10s"), (70 * M, "70m"), (47 * H, "47h"),
    (49 * H, "2d1h"), ((8 * 24 + 2) * H, "8d"), (367 * D, "367d"),
    ((365 * 2 * 24 + 25) * H, "2y1d"), ((365 * 8 * 24 + 2) * H, "8y"),
    # TestHumanDurationBoundaries
    (-2, "<invalid>"), (-2 + 1e-6, "0s"), (0, "0s"), (1 - 1e-3, "0s"), (2 * M - 1e-3, "119s"),
    (2 * M, "2m"), (2 * M + 1, "2m1s"), (10 * M - 1e-3, "9m59s"), (10 * M, "10m"),
    (10 * M + 1, "10m"), (3 * H - 1e-3, "179m"), (3 * H, "3h"), (3 * H + M, "3h1m"),
    (8 * H - 1e-3, "7h59m"), (8 * H, "8h"), (8 * H + 59 * M, "8h"), (2 * D - 1e-3, "47h"),
    (2 * D, "2d"), (2 * D + H, "2d1h"), (8 * D - 1e-3, "7d23h"), (8 * D, "8d"),
    (8 * D + 23 * H, "8d"), (730 * D - 1e-3, "729d"), (730 * D, "2y"), (730 * D + 23 * H, "2y"),
    (731 * D - 1e-3, "2y"), (731 * D, "2y1d"), (3 * 365 * D, "3y"), (7 * 365 * D, "7y"),
    (8 * 365 * D - 1e-3, "7y364d"), (8 * 365 * D, "8y"), (8 * 365 * D + 364 * D, "8y"),
    (9 * 365 * D, "9y"),
], ids=lambda v: str(v))
def test_human_duration_matches_upstream(seconds: float, want: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == want


# --- Pod STATUS / READY / RESTARTS ---------------------------------------------------------

def pod(containers: int = 1, init: int = 0, **status: object) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]}
    if init:
        spec["initContainers"] = [{"name": f"i{i}", "image": "busybox"} for i in range(init)]
    return {"metadata": md("p"), "spec": spec, "status": status}


def cs(name: str = "c0", ready: bool = False, restarts: int = 0, last_finished: str = "",
       **state: dict) -> dict:
    out: dict = {"name": name, "ready": ready, "restartCount": restarts, "state": state}
    if last_finished:
        out["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": last_finished}}
    return out


RUNNING = {"startedAt": "2024-05-01T11:00:00Z"}
READY_TRUE = [{"type": "Ready", "status": "True"}]

POD_CASES = [
    ("pending-unscheduled", pod(phase="Pending"), ["0/1", "Pending", "0"]),
    ("container-creating", pod(phase="Pending", containerStatuses=[
        cs(waiting={"reason": "ContainerCreating"})]), ["0/1", "ContainerCreating", "0"]),
    ("running-ready", pod(2, phase="Running", conditions=READY_TRUE, containerStatuses=[
        cs("c0", True, running=RUNNING), cs("c1", True, running=RUNNING)]),
     ["2/2", "Running", "0"]),
    ("crashloop-with-restart-age", pod(phase="Running", containerStatuses=[
        cs(restarts=4, last_finished=ago(minutes=5),
           waiting={"reason": "CrashLoopBackOff"})]), ["0/1", "CrashLoopBackOff", "4 (5m ago)"]),
    ("err-image-pull", pod(phase="Pending", containerStatuses=[
        cs(waiting={"reason": "ErrImagePull"})]), ["0/1", "ErrImagePull", "0"]),
    ("completed", pod(phase="Succeeded", containerStatuses=[
        cs(terminated={"exitCode": 0, "reason": "Completed"})]), ["0/1", "Completed", "0"]),
    ("exit-code-without-reason", pod(phase="Failed", containerStatuses=[
        cs(terminated={"exitCode": 3})]), ["0/1", "ExitCode:3", "0"]),
    ("signal-without-reason", pod(phase="Failed", containerStatuses=[
        cs(terminated={"exitCode": 137, "signal": 9})]), ["0/1", "Signal:9", "0"]),
    ("completed-but-other-running-ready", pod(2, phase="Running", conditions=READY_TRUE,
        containerStatuses=[cs("c0", True, running=RUNNING),
                           cs("c1", terminated={"exitCode": 0, "reason": "Completed"})]),
     ["1/2", "Running", "0"]),
    ("completed-but-other-running-notready", pod(2, phase="Running", containerStatuses=[
        cs("c0", True, running=RUNNING),
        cs("c1", terminated={"exitCode": 0, "reason": "Completed"})]), ["1/2", "NotReady", "0"]),
    ("init-waiting", pod(1, 2, phase="Pending", initContainerStatuses=[
        cs("i0", waiting={"reason": "PodInitializing"}), cs("i1", waiting={})]),
     ["0/1", "Init:0/2", "0"]),
    ("init-second-running", pod(1, 2, phase="Pending", initContainerStatuses=[
        cs("i0", terminated={"exitCode": 0, "reason": "Completed"}),
        cs("i1", running=RUNNING)]), ["0/1", "Init:1/2", "0"]),
    ("init-crashloop", pod(1, 1, phase="Pending", initContainerStatuses=[
        cs("i0", restarts=2, last_finished=ago(seconds=30),
           waiting={"reason": "CrashLoopBackOff"})]),
     ["0/1", "Init:CrashLoopBackOff", "2 (30s ago)"]),
    ("init-error", pod(1, 1, phase="Pending", initContainerStatuses=[
        cs("i0", terminated={"exitCode": 1, "reason": "Error"})]), ["0/1", "Init:Error", "0"]),
    ("init-exit-code", pod(1, 1, phase="Pending", initContainerStatuses=[
        cs("i0", terminated={"exitCode": 2})]), ["0/1", "Init:ExitCode:2", "0"]),
    ("pod-initializing", pod(1, 1, phase="Pending",
        conditions=[{"type": "Initialized", "status": "True"}],
        initContainerStatuses=[cs("i0", terminated={"exitCode": 0, "reason": "Completed"})],
        containerStatuses=[cs(waiting={"reason": "PodInitializing"})]),
     ["0/1", "PodInitializing", "0"]),
    ("evicted-status-reason", pod(phase="Failed", reason="Evicted"), ["0/1", "Evicted", "0"]),
    ("scheduling-gated", pod(phase="Pending", conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]),
     ["0/1", "SchedulingGated", "0"]),
    ("restarts-without-last-state-have-no-suffix", pod(phase="Running", conditions=READY_TRUE,
        containerStatuses=[cs("c0", True, restarts=3, running=RUNNING)]), ["1/1", "Running", "3"]),
]


@pytest.mark.parametrize("obj,want", [(o, w) for _, o, w in POD_CASES],
                         ids=[i for i, _, _ in POD_CASES])
def test_pod_ready_status_restarts(obj: dict, want: list) -> None:
    got = cells("", "Pod", obj)
    assert got[1:4] == want
    assert got[0] == "p" and got[4] == "60m"


def test_pod_sidecar_counts_towards_ready_and_restarts() -> None:
    obj = pod(1, 0, phase="Running", conditions=READY_TRUE + [
        {"type": "Initialized", "status": "True"}],
        initContainerStatuses=[{"name": "side", "ready": True, "started": True,
                                "restartCount": 1, "state": {"running": RUNNING},
                                "lastState": {"terminated": {"finishedAt": ago(hours=2)}}}],
        containerStatuses=[cs("c0", True, restarts=1, last_finished=ago(minutes=3),
                              running=RUNNING)])
    obj["spec"]["initContainers"] = [{"name": "side", "image": "envoy", "restartPolicy": "Always"}]
    assert cells("", "Pod", obj)[1:4] == ["2/2", "Running", "2 (3m ago)"]


@pytest.mark.parametrize("status,want", [
    ({"phase": "Running"}, "Terminating"),
    ({"phase": "Succeeded"}, "Succeeded"),
    ({"phase": "Unknown", "reason": "NodeLost"}, "Unknown"),
], ids=["running-terminating", "terminal-phase-kept", "node-lost-unknown"])
def test_pod_deletion_status(status: dict, want: str) -> None:
    obj = pod(**status)
    obj["metadata"]["deletionTimestamp"] = ago(seconds=5)
    assert cells("", "Pod", obj)[2] == want


def test_pod_wide_cells_and_completed_condition() -> None:
    obj = pod(phase="Succeeded", podIP="10.0.0.9", nominatedNodeName="n2",
              conditions=[{"type": "gate/a", "status": "True"}])
    obj["spec"].update(nodeName="n1", readinessGates=[{"conditionType": "gate/a"},
                                                      {"conditionType": "gate/b"}])
    row = to_table(by_kind("", "Pod"), [obj], NOW)["rows"][0]
    assert row["cells"][5:] == ["10.0.0.9", "n1", "n2", "1/2"]
    assert row["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                  "message": "The pod has completed successfully."}]


# --- workloads -----------------------------------------------------------------------------

TEMPLATE = {"spec": {"containers": [{"name": "web", "image": "nginx:1"},
                                    {"name": "log", "image": "busybox"}]}}


def test_statefulset_cells() -> None:
    obj = {"metadata": md("db"), "spec": {"replicas": 3, "template": TEMPLATE},
           "status": {"readyReplicas": 2}}
    assert cells("apps", "StatefulSet", obj) == ["db", "2/3", "60m", "web,log", "nginx:1,busybox"]


def test_deployment_cells() -> None:
    obj = {"metadata": md("web"), "spec": {
        "replicas": 3, "template": TEMPLATE,
        "selector": {"matchLabels": {"app": "web"},
                     "matchExpressions": [{"key": "tier", "operator": "In",
                                           "values": ["fe", "be"]},
                                          {"key": "canary", "operator": "DoesNotExist"}]}},
        "status": {"readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1}}
    assert cells("apps", "Deployment", obj) == [
        "web", "1/3", 2, 1, "60m", "web,log", "nginx:1,busybox",
        "app=web,!canary,tier in (be,fe)"]  # sorted by key


def test_replicaset_and_rc_cells() -> None:
    rs = {"metadata": md("web-1"), "spec": {"replicas": 2, "template": TEMPLATE,
                                           "selector": {"matchLabels": {"b": "2", "a": "1"}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    assert cells("apps", "ReplicaSet", rs) == [
        "web-1", 2, 2, 1, "60m", "web,log", "nginx:1,busybox", "a=1,b=2"]
    rc = {"metadata": md("rc"), "spec": {"replicas": 0, "selector": {"app": "x"}}}
    assert cells("", "ReplicationController", rc) == ["rc", 0, 0, 0, "60m", "", "", "app=x"]


def test_controller_revision_cells() -> None:
    obj = {"metadata": md("db-7f", ownerReferences=[
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": True}]),
        "revision": 2}
    assert cells("apps", "ControllerRevision", obj) == ["db-7f", "statefulset.apps/db", 2, "60m"]


# --- Service -------------------------------------------------------------------------------

SERVICE_CASES = [
    ("clusterip", {"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                   "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                   "selector": {"k8s-app": "dns"}},
     {}, ["ClusterIP", "10.96.0.10", "<none>", "53/UDP,53/TCP", "60m", "k8s-app=dns"]),
    ("nodeport", {"type": "NodePort", "clusterIPs": ["10.96.1.1"], "externalIPs": ["1.2.3.4"],
                  "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                            {"port": 443, "nodePort": 30443, "protocol": "TCP"}]},
     {}, ["NodePort", "10.96.1.1", "1.2.3.4", "80:30080/TCP,443:30443/TCP", "60m", "<none>"]),
    ("loadbalancer-pending", {"type": "LoadBalancer", "clusterIPs": ["10.96.1.2"],
                              "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]},
     {}, ["LoadBalancer", "10.96.1.2", "<pending>", "80:31000/TCP", "60m", "<none>"]),
    ("loadbalancer-ingress", {"type": "LoadBalancer", "clusterIPs": ["10.96.1.3"],
                              "externalIPs": ["9.9.9.9"], "ports": []},
     {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}]}},
     ["LoadBalancer", "10.96.1.3", "5.6.7.8,lb.example.com,9.9.9.9", "<none>", "60m",
      "<none>"]),
    ("headless", {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]},
     {}, ["ClusterIP", "None", "<none>", "80/TCP", "60m", "<none>"]),
    ("externalname", {"type": "ExternalName", "externalName": "db.example.com"},
     {}, ["ExternalName", "<none>", "db.example.com", "<none>", "60m", "<none>"]),
]


@pytest.mark.parametrize("spec,status,want", [(s, t, w) for _, s, t, w in SERVICE_CASES],
                         ids=[i for i, *_ in SERVICE_CASES])
def test_service_cells(spec: dict, status: dict, want: list) -> None:
    assert cells("", "Service", {"metadata": md("svc"), "spec": spec, "status": status}) == \
        ["svc", *want]


# --- storage -------------------------------------------------------------------------------

PVC_CASES = [
    ("bound", {}, {"volumeName": "pv-1", "storageClassName": "standard",
                   "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
     {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
      "capacity": {"storage": "2Gi"}},
     ["Bound", "pv-1", "2Gi", "RWO,RWX", "standard", "<unset>", "60m", "Filesystem"]),
    ("pending", {}, {"storageClassName": "standard", "accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}}},
     {"phase": "Pending"}, ["Pending", "", "", "", "standard", "<unset>", "60m", "<unset>"]),
    ("terminating-beta-class", {"deletionTimestamp": ago(seconds=1),
                                "annotations": {"volume.beta.kubernetes.io/storage-class": "old"}},
     {"storageClassName": "new"}, {"phase": "Bound"},
     ["Terminating", "", "", "", "old", "<unset>", "60m", "<unset>"]),
]


@pytest.mark.parametrize("extra_meta,spec,status,want",
                         [(m, s, t, w) for _, m, s, t, w in PVC_CASES],
                         ids=[i for i, *_ in PVC_CASES])
def test_pvc_cells(extra_meta: dict, spec: dict, status: dict, want: list) -> None:
    obj = {"metadata": md("data", **extra_meta), "spec": spec, "status": status}
    assert cells("", "PersistentVolumeClaim", obj) == ["data", *want]


def test_pv_and_storageclass_cells() -> None:
    pv = {"metadata": md("pv-1"), "spec": {
        "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
        "claimRef": {"namespace": "default", "name": "data"}}, "status": {"phase": "Bound"}}
    assert cells("", "PersistentVolume", pv) == [
        "pv-1", "5Gi", "RWO", "Retain", "Bound", "default/data", "fast", "<unset>", "", "60m",
        "<unset>"]
    sc = {"metadata": md("standard", annotations={
        "storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert cells("storage.k8s.io", "StorageClass", sc) == [
        "standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", False,
        "60m"]


# --- events --------------------------------------------------------------------------------

EVENT_CASES = [
    ("core-event", {"type": "Normal", "reason": "Scheduled", "message": " Assigned pod \n",
                    "involvedObject": {"kind": "Pod", "name": "web-0",
                                       "fieldPath": "spec.containers{web}"},
                    "source": {"component": "kubelet", "host": "node-1"},
                    "firstTimestamp": ago(minutes=10), "lastTimestamp": ago(seconds=30),
                    "count": 4},
     ["30s", "Normal", "Scheduled", "pod/web-0", "spec.containers{web}", "kubelet, node-1",
      "Assigned pod", "10m", 4, "ev"]),
    ("new-api-singleton", {"type": "Warning", "reason": "Failed", "message": "boom",
                           "involvedObject": {"kind": "Node"}, "eventTime": ago(hours=3),
                           "reportingController": "ctrl", "reportingInstance": "ctrl-1"},
     ["3h", "Warning", "Failed", "node", "", "ctrl, ctrl-1", "boom", "3h", 1, "ev"]),
    ("series", {"type": "Normal", "reason": "Pulled", "involvedObject": {"kind": "Pod",
                                                                         "name": "p"},
                "eventTime": ago(days=3), "series": {"count": 9,
                                                     "lastObservedTime": ago(minutes=4)},
                "source": {"component": "kubelet"}},
     ["4m", "Normal", "Pulled", "pod/p", "", "kubelet", "", "3d", 9, "ev"]),
]


@pytest.mark.parametrize("event,want", [(e, w) for _, e, w in EVENT_CASES],
                         ids=[i for i, *_ in EVENT_CASES])
def test_event_cells(event: dict, want: list) -> None:
    assert cells("", "Event", {"metadata": md("ev"), **event}) == want


def test_event_columns_priorities_match_upstream() -> None:
    cols = to_table(by_kind("", "Event"), [], NOW)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1),
        ("Source", 1), ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]
    assert cols[-1]["format"] == "name"


# --- the other kinds -----------------------------------------------------------------------

@pytest.mark.parametrize("group,kind,obj,want", [
    ("", "Endpoints", {"subsets": [
        {"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}],
         "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]}]},
     ["10.0.0.1:80,[fd00::2]:80,10.0.0.1:443 + 1 more...", "60m"]),
    ("", "Endpoints", {}, ["<none>", "60m"]),
    ("discovery.k8s.io", "EndpointSlice", {
        "addressType": "IPv4", "ports": [{"port": 80}, {"name": "x"}, {}, {"port": 1}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}]},
     ["IPv4", "80,x,* + 1 more...", "10.0.0.1,10.0.0.2", "60m"]),
    ("", "ConfigMap", {"data": {"a": "1"}, "binaryData": {"b": "AA=="}}, [2, "60m"]),
    ("", "Secret", {"type": "Opaque", "data": {"a": "MQ=="}}, ["Opaque", 1, "60m"]),
    ("", "ServiceAccount", {"secrets": [{"name": "t"}]}, [1, "60m"]),
    ("", "Namespace", {"status": {"phase": "Terminating"}}, ["Terminating", "60m"]),
    ("policy", "PodDisruptionBudget", {"spec": {"minAvailable": "50%"},
                                       "status": {"disruptionsAllowed": 1}},
     ["50%", "N/A", 1, "60m"]),
    ("coordination.k8s.io", "Lease", {"spec": {"holderIdentity": "node-1"}}, ["node-1", "60m"]),
    ("", "Node", {"metadata": md("n1", labels={"node-role.kubernetes.io/control-plane": "",
                                               "kubernetes.io/role": "edge"}),
                  "spec": {"unschedulable": True},
                  "status": {"conditions": [{"type": "Ready", "status": "True"}],
                             "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}],
                             "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"}}},
     ["Ready,SchedulingDisabled", "control-plane,edge", "60m", "v1.33.0", "172.18.0.2",
      "<none>", "Debian", "<unknown>", "<unknown>"]),
], ids=["endpoints-more", "endpoints-none", "endpointslice", "configmap", "secret",
        "serviceaccount", "namespace", "pdb", "lease", "node"])
def test_other_kind_cells(group: str, kind: str, obj: dict, want: list) -> None:
    obj = {"metadata": md("o"), **obj}
    assert cells(group, kind, obj)[1:] == want


def test_wide_columns_are_priority_one() -> None:
    for group, kind, wide in [
        ("", "Pod", ["IP", "Node", "Nominated Node", "Readiness Gates"]),
        ("apps", "Deployment", ["Containers", "Images", "Selector"]),
        ("apps", "StatefulSet", ["Containers", "Images"]),
        ("", "Service", ["Selector"]),
        ("", "PersistentVolumeClaim", ["VolumeMode"]),
    ]:
        cols = to_table(by_kind(group, kind), [], NOW)["columnDefinitions"]
        assert [c["name"] for c in cols if c["priority"] == 1] == wide
        assert all(set(c) == {"name", "type", "format", "description", "priority"}
                   for c in cols)
        assert cols[0] == {**cols[0], "name": "Name", "format": "name", "type": "string"}


# --- the envelope --------------------------------------------------------------------------

def test_default_table_for_unprinted_kind() -> None:
    table = to_table(by_kind("authorization.k8s.io", "SelfSubjectAccessReview"),
                     [{"metadata": {"name": "r",
                                    "creationTimestamp": "2024-05-01T11:00:00+00:00"}}],
                     NOW, list_meta={"resourceVersion": "9"})
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"), ("Created At", "date", "")]
    assert table["rows"][0]["cells"] == ["r", "2024-05-01T11:00:00Z"]
    assert table["metadata"] == {"resourceVersion": "9"}


@pytest.mark.parametrize("include,want", [
    ("Metadata", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"name": "cm", "resourceVersion": "3"}}),
    ("", {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
          "metadata": {"name": "cm", "resourceVersion": "3"}}),
    ("Object", {"kind": "ConfigMap", "apiVersion": "v1",
                "metadata": {"name": "cm", "resourceVersion": "3"}, "data": {"k": "v"}}),
    ("None", None),
], ids=["metadata", "empty-means-metadata", "object", "none"])
def test_include_object(include: str, want: dict | None) -> None:
    obj = {"kind": "ConfigMap", "apiVersion": "v1",
           "metadata": {"name": "cm", "resourceVersion": "3"}, "data": {"k": "v"}}
    table = to_table(by_kind("", "ConfigMap"), [obj], NOW, include_object=include)
    assert table["rows"][0]["object"] == want
    assert table["metadata"] == {"resourceVersion": "3"}  # a GET reports the object's RV
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"


def test_include_object_rejects_unknown_value() -> None:
    with pytest.raises(ValueError):
        to_table(by_kind("", "ConfigMap"), [], NOW, include_object="Everything")


def test_list_meta_and_no_headers() -> None:
    table = to_table(by_kind("", "ConfigMap"), [], NOW,
                     list_meta={"resourceVersion": "42", "continue": "tok",
                                "remainingItemCount": 5},
                     no_headers=True)
    assert table["metadata"] == {"resourceVersion": "42", "continue": "tok",
                                 "remainingItemCount": 5}
    assert table["columnDefinitions"] is None
    assert table["rows"] == []


def test_missing_creation_timestamp_is_unknown_age() -> None:
    assert cells("", "ConfigMap", {"metadata": {"name": "c"}}) == ["c", 0, "<unknown>"]
