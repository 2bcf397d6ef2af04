"""OCI runtime spec (`config.json`, ociVersion 1.0.2) for one container: a pure render.

Owns the typed `ContainerSpec` and how it becomes a spec runc 1.1 accepts: namespaces (new pid
and mount always; net/ipc/uts joined by path or new), process (argv, env, user, capabilities
relative to the containerd/Docker default set), mounts, masked paths, cgroup v1 resources.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

OCI_VERSION = "1.0.2"
HOST = "host"  # ContainerSpec.netns: share the host's network namespace (hostNetwork pods)
# config.json annotation: the container gets a stdin pipe the monitor keeps ("open": stdin: true,
# "once": and stdinOnce: true); absent, its stdin is /dev/null (containerd without Config.Stdin)
STDIN_ANNOTATION = "io.kubeproc.container.stdin"
STDIN_MODES = ("open", "once")

# containerd's default set (pkg/oci/spec.go defaultUnixCaps), the same 14 as Docker's: what a
# Kubernetes container gets before securityContext.capabilities add/drop.
DEFAULT_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)

# Every capability runc 1.1 knows (capability.List up to CAP_CHECKPOINT_RESTORE), in kernel order.
ALL_CAPS: tuple[str, ...] = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

# `runc spec` defaults (runc 1.1.5 libcontainer/specconv/example.go).
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)


@dataclass(frozen=True)
class Mount:
    """One mount in the container. A bind needs "bind" or "rbind" in options (runc's rule)."""

    source: str
    destination: str
    options: tuple[str, ...] = ("rbind",)
    type: str = "bind"


# `runc spec` default mounts (same order); a ContainerSpec mount at the same destination replaces one.
DEFAULT_MOUNTS: tuple[Mount, ...] = (
    Mount("proc", "/proc", (), "proc"),
    Mount("tmpfs", "/dev", ("nosuid", "strictatime", "mode=755", "size=65536k"), "tmpfs"),
    Mount("devpts", "/dev/pts", ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"), "devpts"),
    Mount("shm", "/dev/shm", ("nosuid", "noexec", "nodev", "mode=1777", "size=65536k"), "tmpfs"),
    Mount("mqueue", "/dev/mqueue", ("nosuid", "noexec", "nodev"), "mqueue"),
    Mount("sysfs", "/sys", ("nosuid", "noexec", "nodev", "ro"), "sysfs"),
    Mount("cgroup", "/sys/fs/cgroup", ("nosuid", "noexec", "nodev", "relatime", "ro"), "cgroup"),
)


@dataclass(frozen=True)
class Resources:
    """cgroup limits; None leaves a controller unlimited."""

    memory_limit: int | None = None  # bytes (limits.memory)
    cpu_quota: int | None = None  # microseconds per period (limits.cpu)
    cpu_period: int | None = None  # microseconds; the kubelet uses 100000
    cpu_shares: int | None = None  # from requests.cpu (the kubelet's milliCPUToShares)
    pids_limit: int | None = None


@dataclass(frozen=True)
class ContainerSpec:
    """Everything the runtime needs to know to render one container's config.json."""

    id: str
    rootfs: str
    args: tuple[str, ...]
    env: tuple[str, ...] = ()  # "NAME=value", in order
    cwd: str = "/"
    hostname: str | None = None
    uid: int = 0
    gid: int = 0
    supplementary_groups: tuple[int, ...] = ()
    cap_add: tuple[str, ...] = ()  # Kubernetes spelling ("NET_ADMIN") or "CAP_NET_ADMIN"; "ALL"
    cap_drop: tuple[str, ...] = ()
    no_new_privileges: bool = False  # allowPrivilegeEscalation: false
    readonly_rootfs: bool = False
    mounts: tuple[Mount, ...] = ()
    netns: str | None = None  # a netns path to join (/proc/PID/fd/N); None: a new one; HOST: the host's
    ipcns: str | None = None
    utsns: str | None = None
    cgroup_path: str = ""  # e.g. "/kubeproc-<instance>/<pod uid>/<container id>"
    resources: Resources = field(default_factory=Resources)
    oom_score_adj: int | None = None
    masked_paths: tuple[str, ...] = DEFAULT_MASKED_PATHS
    readonly_paths: tuple[str, ...] = DEFAULT_READONLY_PATHS
    annotations: tuple[tuple[str, str], ...] = ()


def _cap_name(c: str) -> str:
    c = c.strip().upper()
    return c if c.startswith("CAP_") else "CAP_" + c


def capabilities(add: tuple[str, ...], drop: tuple[str, ...]) -> list[str]:
    """The container's capability set: ALL in add/drop first, then single adds, then single drops.

    Follows containerd pkg/cri/opts/spec_linux.go WithCapabilities (add ALL, drop ALL, add, drop).
    """
    names_add = [c.strip().upper() for c in add]
    names_drop = [c.strip().upper() for c in drop]
    caps = list(DEFAULT_CAPS)
    if "ALL" in names_add:
        caps = list(ALL_CAPS)
    if "ALL" in names_drop:
        caps = []
    for c in names_add:
        if c != "ALL" and _cap_name(c) not in caps:
            caps.append(_cap_name(c))
    dropped = {_cap_name(c) for c in names_drop if c != "ALL"}
    return [c for c in caps if c not in dropped]


def _mount(m: Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"destination": m.destination, "type": m.type, "source": m.source}
    if m.options:
        out["options"] = list(m.options)
    return out


def _namespace(kind: str, path: str | None) -> dict[str, str]:
    return {"type": kind, "path": path} if path else {"type": kind}


def _resources(r: Resources) -> dict[str, Any]:
    # runc's example spec: deny every device; runc itself allows its default /dev nodes after it
    out: dict[str, Any] = {"devices": [{"allow": False, "access": "rwm"}]}
    if r.memory_limit is not None:
        out["memory"] = {"limit": r.memory_limit}
    cpu: dict[str, Any] = {}
    if r.cpu_shares is not None:
        cpu["shares"] = r.cpu_shares
    if r.cpu_quota is not None:
        cpu["quota"] = r.cpu_quota
        cpu["period"] = r.cpu_period or 100000
    elif r.cpu_period is not None:
        cpu["period"] = r.cpu_period
    if cpu:
        out["cpu"] = cpu
    if r.pids_limit is not None:
        out["pids"] = {"limit": r.pids_limit}
    return out


def render(spec: ContainerSpec) -> dict[str, Any]:
    """The config.json dict for `spec` (pure; key order is stable so golden files compare)."""
    caps = capabilities(spec.cap_add, spec.cap_drop)
    process: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": spec.uid, "gid": spec.gid},
        "args": list(spec.args),
        "env": list(spec.env),
        "cwd": spec.cwd,
        # inheritable and ambient stay empty (containerd's fix for CVE-2022-24769)
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": spec.no_new_privileges,
    }
    if spec.supplementary_groups:
        process["user"]["additionalGids"] = list(spec.supplementary_groups)
    if spec.oom_score_adj is not None:
        process["oomScoreAdj"] = spec.oom_score_adj
    own = {m.destination for m in spec.mounts}
    mounts = [_mount(m) for m in DEFAULT_MOUNTS if m.destination not in own]
    mounts += [_mount(m) for m in spec.mounts]
    linux: dict[str, Any] = {
        "resources": _resources(spec.resources),
        "cgroupsPath": spec.cgroup_path,
        "namespaces": [ns for ns in (
            {"type": "pid"},
            None if spec.netns == HOST else _namespace("network", spec.netns),
            _namespace("ipc", spec.ipcns),
            _namespace("uts", spec.utsns),
            {"type": "mount"},
        ) if ns is not None],
        "maskedPaths": list(spec.masked_paths),
        "readonlyPaths": list(spec.readonly_paths),
    }
    if not spec.cgroup_path:
        del linux["cgroupsPath"]
    out: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": spec.rootfs, "readonly": spec.readonly_rootfs},
    }
    if spec.hostname:
        out["hostname"] = spec.hostname
    out["mounts"] = mounts
    if spec.annotations:
        out["annotations"] = dict(spec.annotations)
    out["linux"] = linux
    return out


def dumps(config: dict[str, Any]) -> str:
    """config.json text: indented, key order kept, newline-terminated (what the golden files hold)."""
    return json.dumps(config, indent=2) + "\n"
