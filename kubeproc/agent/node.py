"""The Node and its Lease, as the kubelet registers and heartbeats them.

`machine_info()` is the one impure function (reads /proc, /sys, /etc and statvfs); everything
else is a pure function of a `MachineInfo` and `now`: `node_object` builds the Node the kubelet
registers and keeps updating (kubelet_node_status.go initialNode + nodestatus/setters.go),
`lease_object` the kube-node-lease heartbeat (pkg/kubelet/nodelease), `status_changed` says
whether a status update carries more than heartbeat times (nodeStatusHasChanged).
"""

from __future__ import annotations

import copy
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

MAX_PODS = 110  # kubelet --max-pods default
EVICTION_MEMORY_AVAILABLE = 100 * 1024 * 1024  # default hard eviction memory.available<100Mi
# default hard eviction nodefs.available<10%; kept as float32(0.1) widened to float64 like the
# kubelet's eviction threshold (api.ThresholdValue.Percentage is a float32).
EVICTION_NODEFS_PERCENT = 0.10000000149011612
LEASE_NAMESPACE = "kube-node-lease"
KUBELET_PORT = 10250

# Go's GOARCH for the machine names uname reports (what kubernetes.io/arch carries).
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


@dataclass(frozen=True)
class MachineInfo:
    """What the kubelet learns from cAdvisor and the host about this machine."""

    num_cpus: int
    memory_bytes: int
    disk_bytes: int  # filesystem holding the data dir (the kubelet's nodefs)
    kernel_version: str = ""
    os_image: str = ""
    operating_system: str = "linux"
    architecture: str = "amd64"
    boot_id: str = ""
    machine_id: str = ""
    system_uuid: str = ""
    # hugepage size label ("2Mi", "1Gi") -> total bytes reserved as hugepages of that size
    hugepages: Mapping[str, int] = field(default_factory=dict)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _os_image() -> str:
    # kubelet: cadvisor VersionInfo.ContainerOsVersion = PRETTY_NAME of /etc/os-release
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"').strip("'")
    return "Linux"


def _memory_bytes() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _hugepages() -> dict[str, int]:
    # cAdvisor: /sys/kernel/mm/hugepages/hugepages-<size>kB/nr_hugepages, one entry per size.
    out: dict[str, int] = {}
    base = "/sys/kernel/mm/hugepages"
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        if not (name.startswith("hugepages-") and name.endswith("kB")):
            continue
        size = int(name[len("hugepages-"):-2]) * 1024
        count = _read(f"{base}/{name}/nr_hugepages").strip()
        out[binary_si(size)] = size * (int(count) if count.isdigit() else 0)
    return out


def machine_info(data_dir: str) -> MachineInfo:
    """Read this machine's facts (the only impure function here)."""
    st = os.statvfs(data_dir)
    uname = os.uname()
    cpus = os.cpu_count() or 1
    return MachineInfo(
        num_cpus=cpus,
        memory_bytes=_memory_bytes(),
        disk_bytes=st.f_blocks * st.f_frsize,
        kernel_version=uname.release,
        os_image=_os_image(),
        operating_system=platform.system().lower() or "linux",
        architecture=_GOARCH.get(uname.machine, uname.machine),
        boot_id=_read("/proc/sys/kernel/random/boot_id").strip(),
        machine_id=(_read("/etc/machine-id") or _read("/var/lib/dbus/machine-id")).strip(),
        # product_uuid is root-only; the kubelet reports "" too when it cannot read it.
        system_uuid=_read("/sys/class/dmi/id/product_uuid").strip().lower(),
        hugepages=_hugepages(),
    )


def binary_si(n: int) -> str:
    """Canonical BinarySI text of a byte count (resource.Quantity String()): 4096 -> "4Ki"."""
    if n == 0:
        return "0"
    suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
    i = 0
    while i + 1 < len(suffixes) and n % 1024 == 0 and n >= 1024:
        n //= 1024
        i += 1
    return f"{n}{suffixes[i]}"


def rfc3339(t: datetime) -> str:
    """metav1.Time wire form: second precision, UTC, "Z"."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(t: datetime) -> str:
    """metav1.MicroTime wire form: microseconds, UTC, "Z"."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def capacity(info: MachineInfo, max_pods: int = MAX_PODS) -> dict[str, str]:
    # nodestatus.MachineInfo setter: cpu in cores, memory/storage/hugepages BinarySI, pods.
    out = {"cpu": str(info.num_cpus), "ephemeral-storage": binary_si(info.disk_bytes)}
    for size, total in sorted(info.hugepages.items()):
        out[f"hugepages-{size}"] = binary_si(total)
    out["memory"] = binary_si(info.memory_bytes)
    out["pods"] = str(max_pods)
    return out


def allocatable(info: MachineInfo, max_pods: int = MAX_PODS) -> dict[str, str]:
    # cm.GetNodeAllocatableReservation: no kube/system reserved by default, only the hard
    # eviction thresholds; hugepages are subtracted from memory (setters.go MachineInfo).
    out = capacity(info, max_pods)
    memory = info.memory_bytes - EVICTION_MEMORY_AVAILABLE - sum(info.hugepages.values())
    out["memory"] = binary_si(max(memory, 0))
    reserve = int(info.disk_bytes * EVICTION_NODEFS_PERCENT)
    out["ephemeral-storage"] = binary_si(max(info.disk_bytes - reserve, 0))
    return out


# nodestatus/setters.go: condition type -> (reason, message) while healthy, in status order.
CONDITIONS = (
    ("MemoryPressure", "False", "KubeletHasSufficientMemory",
     "kubelet has sufficient memory available"),
    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
)


def _conditions(now: str, previous: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # setters.go: lastTransitionTime moves only when status changes; heartbeat every update.
    prev = {c.get("type"): c for c in previous}
    out: list[dict[str, Any]] = []
    for ctype, status, reason, message in CONDITIONS:
        old = prev.get(ctype)
        moved = old is None or old.get("status") != status
        out.append({
            "type": ctype, "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now if moved else old.get("lastTransitionTime", now),
            "reason": reason, "message": message,
        })
    # Conditions another component added (e.g. NetworkUnavailable) are kept as they were.
    known = {c[0] for c in CONDITIONS}
    out.extend(copy.deepcopy(dict(c)) for c in previous if c.get("type") not in known)
    return out


def default_labels(name: str, info: MachineInfo) -> dict[str, str]:
    # kubelet_node_status.go initialNode + updateDefaultLabels (no node-role: kubeadm sets it).
    return {
        "beta.kubernetes.io/arch": info.architecture,
        "beta.kubernetes.io/os": info.operating_system,
        "kubernetes.io/arch": info.architecture,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": info.operating_system,
    }


def node_object(name: str, info: MachineInfo, *, pod_cidr: str | Sequence[str],
                addresses: Sequence[str], kubelet_version: str, now: datetime,
                container_runtime_version: str = "runc://1.1.5",
                kube_proxy_version: str = "", previous: Mapping[str, Any] | None = None,
                kubelet_port: int = KUBELET_PORT, max_pods: int = MAX_PODS) -> dict[str, Any]:
    """The Node this agent registers (previous=None) or its update of `previous`.

    With `previous`, metadata and spec are kept (users' labels, taints, cordon), the kubelet's
    default labels are reconciled, and the status is recomputed with condition transition times
    carried over when a condition's status did not change. `addresses` are the InternalIPs.
    `previous` is not mutated.
    """
    ts = rfc3339(now)
    cidrs = [pod_cidr] if isinstance(pod_cidr, str) else list(pod_cidr)
    if previous is None:
        node: dict[str, Any] = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name,
                "labels": default_labels(name, info),
                # initialNode: attach/detach is the controller's job on every node.
                "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
            },
            "spec": {},
        }
        old_conditions: Sequence[Mapping[str, Any]] = ()
    else:
        node = copy.deepcopy(dict(previous))
        meta = node.setdefault("metadata", {})
        labels = meta.get("labels") or {}
        labels.update(default_labels(name, info))
        meta["labels"] = labels
        node.setdefault("spec", {})
        old_conditions = (previous.get("status") or {}).get("conditions") or ()
    spec = node["spec"]
    # podCIDR is assigned once (by the IPAM controller upstream) and never rewritten.
    if cidrs and not spec.get("podCIDR"):
        spec["podCIDR"] = cidrs[0]
        spec["podCIDRs"] = cidrs
    status = dict((previous or {}).get("status") or {})
    status.update({
        "capacity": capacity(info, max_pods),
        "allocatable": allocatable(info, max_pods),
        "conditions": _conditions(ts, old_conditions),
        "addresses": ([{"type": "InternalIP", "address": a} for a in addresses]
                      + [{"type": "Hostname", "address": name}]),
        # DaemonEndpoint's JSON name really is "Port".
        "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
        "nodeInfo": {
            "machineID": info.machine_id,
            "systemUUID": info.system_uuid,
            "bootID": info.boot_id,
            "kernelVersion": info.kernel_version,
            "osImage": info.os_image,
            "containerRuntimeVersion": container_runtime_version,
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": kube_proxy_version,
            "operatingSystem": info.operating_system,
            "architecture": info.architecture,
        },
    })
    node["status"] = status
    return node


def _without_heartbeats(status: Mapping[str, Any]) -> dict[str, Any]:
    s = dict(status)
    s["conditions"] = sorted(
        ({k: v for k, v in c.items() if k != "lastHeartbeatTime"}
         for c in status.get("conditions") or ()), key=lambda c: str(c.get("type")))
    return s


def status_changed(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Whether the Node status differs beyond heartbeat times (nodeStatusHasChanged).

    Unchanged status needs posting only every nodeStatusReportFrequency (5m): the Lease is
    the heartbeat.
    """
    if old is None:
        return True
    return (_without_heartbeats(old.get("status") or {})
            != _without_heartbeats(new.get("status") or {}))


def lease_object(node_name: str, node_uid: str, now: datetime,
                 duration: int = 40) -> dict[str, Any]:
    """The node's heartbeat Lease in kube-node-lease, owned by the Node (nodelease controller)."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": node_name,
            "namespace": LEASE_NAMESPACE,
            # setNodeOwnerFunc: a plain owner reference (no controller / blockOwnerDeletion),
            # so the Lease is collected with the Node.
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                 "name": node_name, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": duration,
            "renewTime": micro_time(now),
        },
    }
