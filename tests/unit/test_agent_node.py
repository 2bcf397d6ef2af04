"""The Node and Lease the agent writes (kubeproc.agent.node) against the kubelet's
kubelet_node_status.go (initialNode), nodestatus/setters.go and nodelease."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

import pytest

from kubeproc.agent.node import (MachineInfo, binary_si, lease_object, machine_info,
                                 micro_time, node_object, rfc3339, status_changed)

NOW = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
LATER = NOW + timedelta(seconds=10)

INFO = MachineInfo(
    num_cpus=2, memory_bytes=4025880 * 1024, disk_bytes=30308240 * 1024,
    kernel_version="6.1.0-18-amd64", os_image="Debian GNU/Linux 12 (bookworm)",
    architecture="amd64", boot_id="b-1", machine_id="m-1", system_uuid="s-1",
    hugepages={"1Gi": 0, "2Mi": 0})


def make(previous: dict | None = None, now: datetime = NOW, info: MachineInfo = INFO) -> dict:
    return node_object("host1", info, pod_cidr="10.244.0.0/24", addresses=["192.168.1.5"],
                       kubelet_version="v1.33.0", now=now, previous=previous)


def cond(node: dict, ctype: str) -> dict:
    return next(c for c in node["status"]["conditions"] if c["type"] == ctype)


FIELD_CASES = [
    ("labels-hostname-os-arch", lambda n: n["metadata"]["labels"], {
        "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": "host1",
        "kubernetes.io/os": "linux"}),
    ("annotation-controller-managed-attach-detach", lambda n: n["metadata"]["annotations"],
     {"volumes.kubernetes.io/controller-managed-attach-detach": "true"}),
    ("capacity-binary-si-and-110-pods", lambda n: n["status"]["capacity"], {
        "cpu": "2", "ephemeral-storage": "30308240Ki", "hugepages-1Gi": "0",
        "hugepages-2Mi": "0", "memory": "4025880Ki", "pods": "110"}),
    # memory minus the 100Mi hard eviction threshold; storage minus nodefs.available 10%
    # (the figures a default kubeadm node reports for the same machine).
    ("allocatable-minus-eviction-thresholds", lambda n: n["status"]["allocatable"], {
        "cpu": "2", "ephemeral-storage": "27932073938", "hugepages-1Gi": "0",
        "hugepages-2Mi": "0", "memory": "3923480Ki", "pods": "110"}),
    ("condition-order", lambda n: [c["type"] for c in n["status"]["conditions"]],
     ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]),
    ("ready-condition", lambda n: cond(n, "Ready"), {
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": "2026-01-02T03:04:05Z",
        "lastTransitionTime": "2026-01-02T03:04:05Z"}),
    ("memory-pressure-condition", lambda n: (cond(n, "MemoryPressure")["status"],
                                             cond(n, "MemoryPressure")["reason"],
                                             cond(n, "MemoryPressure")["message"]),
     ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available")),
    ("disk-pressure-condition", lambda n: (cond(n, "DiskPressure")["reason"],
                                           cond(n, "DiskPressure")["message"]),
     ("KubeletHasNoDiskPressure", "kubelet has no disk pressure")),
    ("pid-pressure-condition", lambda n: (cond(n, "PIDPressure")["reason"],
                                          cond(n, "PIDPressure")["message"]),
     ("KubeletHasSufficientPID", "kubelet has sufficient PID available")),
    ("addresses-internal-ip-then-hostname", lambda n: n["status"]["addresses"], [
        {"type": "InternalIP", "address": "192.168.1.5"},
        {"type": "Hostname", "address": "host1"}]),
    ("daemon-endpoints-capital-port", lambda n: n["status"]["daemonEndpoints"],
     {"kubeletEndpoint": {"Port": 10250}}),
    ("node-info", lambda n: n["status"]["nodeInfo"], {
        "machineID": "m-1", "systemUUID": "s-1", "bootID": "b-1",
        "kernelVersion": "6.1.0-18-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
        "containerRuntimeVersion": "runc://1.1.5", "kubeletVersion": "v1.33.0",
        "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}),
    ("spec-pod-cidrs", lambda n: n["spec"],
     {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}),
    ("type-meta", lambda n: (n["apiVersion"], n["kind"], n["metadata"]["name"]),
     ("v1", "Node", "host1")),
]


@pytest.mark.parametrize("get,expected", [c[1:] for c in FIELD_CASES],
                         ids=[c[0] for c in FIELD_CASES])
def test_registered_node_fields(get, expected) -> None:
    assert get(make()) == expected


def test_hugepages_are_taken_out_of_allocatable_memory() -> None:
    info = MachineInfo(num_cpus=1, memory_bytes=2 * 1024**3, disk_bytes=1024**3,
                       hugepages={"2Mi": 512 * 1024**2})
    node = make(info=info)
    assert node["status"]["capacity"]["hugepages-2Mi"] == "512Mi"
    assert node["status"]["allocatable"]["memory"] == "1436Mi"  # 2Gi - 512Mi - 100Mi


def cordoned_with_user_label() -> dict:
    prev = make()
    prev["metadata"]["uid"] = "u1"
    prev["metadata"]["labels"]["disk"] = "ssd"
    prev["metadata"]["labels"]["kubernetes.io/arch"] = "wrong"
    prev["spec"]["unschedulable"] = True
    prev["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable",
                               "effect": "NoSchedule"}]
    prev["status"]["conditions"].append({"type": "NetworkUnavailable", "status": "False"})
    return prev


UPDATE_CASES = [
    ("keeps-uid", lambda n: n["metadata"]["uid"], "u1"),
    ("keeps-user-labels", lambda n: n["metadata"]["labels"]["disk"], "ssd"),
    ("reconciles-default-labels", lambda n: n["metadata"]["labels"]["kubernetes.io/arch"],
     "amd64"),
    ("keeps-cordon", lambda n: (n["spec"]["unschedulable"], len(n["spec"]["taints"])),
     (True, 1)),
    ("keeps-pod-cidr", lambda n: n["spec"]["podCIDR"], "10.244.0.0/24"),
    ("heartbeat-moves", lambda n: cond(n, "Ready")["lastHeartbeatTime"],
     "2026-01-02T03:04:15Z"),
    ("transition-stays-when-status-same", lambda n: cond(n, "Ready")["lastTransitionTime"],
     "2026-01-02T03:04:05Z"),
    ("keeps-foreign-conditions", lambda n: cond(n, "NetworkUnavailable")["status"], "False"),
]


@pytest.mark.parametrize("get,expected", [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_update_of_previous(get, expected) -> None:
    prev = cordoned_with_user_label()
    before = copy.deepcopy(prev)
    assert get(make(previous=prev, now=LATER)) == expected
    assert prev == before  # previous not mutated


def test_transition_time_moves_when_status_changes() -> None:
    prev = make()
    cond(prev, "Ready").update(status="False", reason="KubeletNotReady")
    got = cond(make(previous=prev, now=LATER), "Ready")
    assert (got["status"], got["lastTransitionTime"]) == ("True", "2026-01-02T03:04:15Z")


CHANGE_CASES = [
    ("no-previous", None, lambda n: None, True),
    ("only-heartbeat-moved", "same", lambda n: None, False),
    ("condition-status-flipped", "same",
     lambda n: cond(n, "Ready").update(status="False"), True),
    ("capacity-changed", "same",
     lambda n: n["status"]["capacity"].update(cpu="4"), True),
]


@pytest.mark.parametrize("prev,mutate,expected", [c[1:] for c in CHANGE_CASES],
                         ids=[c[0] for c in CHANGE_CASES])
def test_status_changed(prev, mutate, expected) -> None:
    old = make() if prev else None
    new = make(previous=old, now=LATER)
    mutate(new)
    assert status_changed(old, new) is expected


def test_lease() -> None:
    assert lease_object("host1", "u1", NOW) == {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": "host1", "namespace": "kube-node-lease",
                     "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                          "name": "host1", "uid": "u1"}]},
        "spec": {"holderIdentity": "host1", "leaseDurationSeconds": 40,
                 "renewTime": "2026-01-02T03:04:05.123456Z"},
    }


TIME_CASES = [
    ("rfc3339-drops-fraction", rfc3339(NOW), "2026-01-02T03:04:05Z"),
    ("micro-time-six-digits", micro_time(NOW.replace(microsecond=5)),
     "2026-01-02T03:04:05.000005Z"),
    ("converted-to-utc", rfc3339(NOW.astimezone(timezone(timedelta(hours=2)))),
     "2026-01-02T03:04:05Z"),
    ("binary-si-ki", binary_si(4096), "4Ki"),
    ("binary-si-odd-bytes-plain", binary_si(1000), "1000"),
    ("binary-si-gi", binary_si(3 * 1024**3), "3Gi"),
    ("binary-si-zero", binary_si(0), "0"),
]


@pytest.mark.parametrize("got,expected", [c[1:] for c in TIME_CASES],
                         ids=[c[0] for c in TIME_CASES])
def test_formats(got: str, expected: str) -> None:
    assert got == expected


def test_machine_info_reads_this_host(tmp_path) -> None:
    info = machine_info(str(tmp_path))
    assert info.num_cpus >= 1 and info.memory_bytes > 0 and info.disk_bytes > 0
    assert info.operating_system == "linux" and info.kernel_version
    assert info.architecture in {"amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64"}
