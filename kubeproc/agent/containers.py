"""A container's process identity and cgroup limits from its pod spec: pure.

Ports the kubelet's securityContext resolution (pkg/securitycontext/util.go, kuberuntime
security_context.go and verifyRunAsNonRoot in security_context_others.go), its cgroup maths
(pkg/kubelet/cm/helpers_linux.go MilliCPUToQuota/MilliCPUToShares) and the OOM score policy
(pkg/kubelet/qos/policy.go GetContainerOOMScoreAdjust, pkg/apis/core/v1/helper/qos GetPodQOS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from kubeproc.agent.runtime.bundle import STDIN_ANNOTATION, Resources
from kubeproc.api.quantity import parse_quantity

CPU_PERIOD_US = 100_000  # helpers_linux.go QuotaPeriod
MIN_QUOTA_US = 1_000  # MinQuotaPeriod
MIN_SHARES, MAX_SHARES = 2, 262_144
GUARANTEED_OOM_ADJ, BESTEFFORT_OOM_ADJ = -997, 1000


class ConfigError(Exception):
    """The container cannot be created as specified: Waiting, reason CreateContainerConfigError."""


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    no_new_privileges: bool
    readonly_rootfs: bool
    privileged: bool


def _ctx(pod: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """securitycontext.util: the container's value wins over the pod's."""
    c = (container.get("securityContext") or {}).get(key)
    if c is not None:
        return c
    return ((pod.get("spec") or {}).get("securityContext") or {}).get(key)


def identity(pod: Mapping[str, Any], container: Mapping[str, Any],
             primary_gid: Callable[[int], int | None] = lambda uid: None) -> Identity:
    """uid/gid/groups/capabilities of the container's process. `primary_gid(uid)` is the
    image's /etc/passwd lookup containerd does when runAsGroup is unset (here: the host's)."""
    sc = container.get("securityContext") or {}
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    uid = _ctx(pod, container, "runAsUser")
    uid = 0 if uid is None else int(uid)
    if _ctx(pod, container, "runAsNonRoot") and uid == 0:
        name = (pod.get("metadata") or {}).get("name", "")
        if _ctx(pod, container, "runAsUser") is None:
            raise ConfigError(f'container has runAsNonRoot and image will run as root '
                              f'(pod: "{name}_{(pod.get("metadata") or {}).get("namespace", "")}'
                              f'({(pod.get("metadata") or {}).get("uid", "")})", container: '
                              f'{container.get("name", "")})')
        raise ConfigError("container's runAsUser breaks non-root policy "
                          f'(pod: "{name}", container: {container.get("name", "")})')
    gid = _ctx(pod, container, "runAsGroup")
    if gid is None:
        gid = primary_gid(uid)
    gid = 0 if gid is None else int(gid)
    groups: list[int] = []
    if psc.get("fsGroup") is not None:  # kuberuntime: fsGroup joins the supplemental groups
        groups.append(int(psc["fsGroup"]))
    for g in psc.get("supplementalGroups") or []:
        if int(g) not in groups:
            groups.append(int(g))
    caps = sc.get("capabilities") or {}
    privileged = bool(sc.get("privileged"))
    ape = sc.get("allowPrivilegeEscalation")
    return Identity(
        uid=uid, gid=gid, groups=tuple(groups),
        cap_add=("ALL",) if privileged else tuple(caps.get("add") or ()),
        cap_drop=() if privileged else tuple(caps.get("drop") or ()),
        # kuberuntime security_context.go: NoNewPrivs = !AllowPrivilegeEscalation when set
        no_new_privileges=ape is False,
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        privileged=privileged)


def _milli(q: Any) -> int:
    return math.ceil(parse_quantity(q) * 1000)  # Quantity.MilliValue rounds up


def _bytes(q: Any) -> int:
    return math.ceil(parse_quantity(q))


def cpu_shares(milli: int) -> int:
    """helpers_linux.go MilliCPUToShares."""
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, min(MAX_SHARES, milli * 1024 // 1000))


def cpu_quota(milli: int) -> int:
    """helpers_linux.go MilliCPUToQuota (period 100 ms)."""
    return max(MIN_QUOTA_US, milli * CPU_PERIOD_US // 1000)


def qos_class(pod: Mapping[str, Any]) -> str:
    """qos.GetPodQOS: Guaranteed when every container limits cpu and memory with requests equal
    to limits, BestEffort when nothing is requested or limited, else Burstable."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    any_set, guaranteed = False, True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for r in ("cpu", "memory"):
            if r in req or r in lim:
                any_set = True
            if r not in lim or parse_quantity(req.get(r, lim[r])) != parse_quantity(lim[r]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def oom_score_adj(pod: Mapping[str, Any], container: Mapping[str, Any], memory_capacity: int) -> int:
    """qos/policy.go GetContainerOOMScoreAdjust (critical pods aside)."""
    qos = qos_class(pod)
    if qos == "Guaranteed":
        return GUARANTEED_OOM_ADJ
    if qos == "BestEffort":
        return BESTEFFORT_OOM_ADJ
    req = ((container.get("resources") or {}).get("requests") or {}).get("memory")
    mem = _bytes(req) if req is not None else 0
    adj = 1000 - (1000 * mem) // max(memory_capacity, 1)
    return max(2, min(999, int(adj)))  # 1000 - 1 and guaranteed + 1 bound it


def resources(container: Mapping[str, Any], pids_limit: int | None = None) -> Resources:
    """cgroup limits for one container (kuberuntime_container_linux.go calculateLinuxResources)."""
    res = container.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    memory = _bytes(lim["memory"]) if "memory" in lim else None
    cpu_req = req.get("cpu", lim.get("cpu"))
    shares = cpu_shares(_milli(cpu_req)) if cpu_req is not None else MIN_SHARES
    quota = cpu_quota(_milli(lim["cpu"])) if "cpu" in lim else None
    return Resources(memory_limit=memory, cpu_quota=quota,
                     cpu_period=CPU_PERIOD_US if quota is not None else None,
                     cpu_shares=shares, pids_limit=pids_limit)


def stdin_annotation(container: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The bundle annotation asking for a stdin pipe: containers with `stdin: true` and no TTY
    (a TTY would need a console: runc --console-socket, not done); stdinOnce is "once"."""
    if not container.get("stdin") or container.get("tty"):
        return ()
    return ((STDIN_ANNOTATION, "once" if container.get("stdinOnce") else "open"),)
