"""The pod status a kubelet reports, computed from what the runtime shows: pure.

Owns the observed-state types (sandbox, container instances, probe results) and ports
pkg/kubelet/kubelet_pods.go (generateAPIPodStatus, convertToAPIContainerStatuses),
pkg/kubelet/prober/prober_manager.go (UpdatePodStatus: ready/started) and status_manager.go
(updateLastTransitionTime); phase and conditions come from podphase.py. No I/O, no clock.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from kubeproc.agent.podphase import (TERMINAL_PHASES, cond, containers_ready, deleting,
                                     get_phase, init_specs, initialized, is_sidecar, pod_ready,
                                     regular_specs, restart_policy)
from kubeproc.agent.runtime.protocol import ContainerState

RUNNING, EXITED, CREATED, UNKNOWN = "running", "exited", "created", "unknown"
PROBE_UNKNOWN, PROBE_SUCCESS, PROBE_FAILURE = "unknown", "success", "failure"
POD_INITIALIZING, CONTAINER_CREATING = "PodInitializing", "ContainerCreating"
# pkg/kubelet/types/pod_status.go PodConditionsByKubelet (+ PodReadyToStartContainers, on in 1.33)
KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                      "PodScheduled")
_KUBELET_FIELDS = ("phase", "reason", "message", "conditions", "podIP", "podIPs", "hostIP",
                   "hostIPs", "startTime", "containerStatuses", "initContainerStatuses")


@dataclass(frozen=True)
class Probes:
    """Latest results of one container instance's probes (the probe runner's output)."""

    readiness: str = PROBE_UNKNOWN
    liveness: str = PROBE_UNKNOWN
    startup: str = PROBE_UNKNOWN


@dataclass(frozen=True)
class ObservedSandbox:
    id: str
    ready: bool = True
    ip: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class ObservedContainer:
    """One container instance. `attempt` is its restartCount; report the latest two per name."""

    name: str
    id: str
    attempt: int
    state: str  # running | exited | created | unknown
    image: str = ""
    created_at: _dt.datetime | None = None
    started_at: _dt.datetime | None = None
    finished_at: _dt.datetime | None = None
    exit_code: int = 0
    signal: int = 0  # kept for the agent's logs; a kubelet never reports it (CRI has no signal)
    oom_killed: bool = False
    message: str = ""  # termination message


def rfc3339(t: _dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    return _dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc)


def from_runtime(name: str, attempt: int, image: str, st: ContainerState,
                 started_at: _dt.datetime | None, message: str = "") -> ObservedContainer:
    """Adapt the runtime seam's view; `started_at` is when the agent started the process."""
    state = {"running": RUNNING, "paused": RUNNING, "created": CREATED}.get(st.status, EXITED)
    created, ex = parse_time(st.created), st.exit
    if state != EXITED or ex is None:  # a stopped container without an exit record is unknown
        return ObservedContainer(name, st.id, attempt, UNKNOWN if state == EXITED else state,
                                 image, created, started_at)
    code = 137 if ex.unknown else ex.exit_code  # an unobserved exit reads as killed (137/Error)
    return ObservedContainer(name, st.id, attempt, EXITED, image, created, started_at,
                             parse_time(ex.finished_at), code, ex.signal, ex.oom_killed, message)


def instances_by_name(
        containers: Iterable[ObservedContainer]) -> dict[str, list[ObservedContainer]]:
    """Newest first (kubecontainer SortContainerStatusesByCreationTime, reversed)."""
    out: dict[str, list[ObservedContainer]] = {}
    for c in containers:
        out.setdefault(c.name, []).append(c)
    epoch = _dt.datetime.min.replace(tzinfo=_dt.timezone.utc)
    for lst in out.values():
        lst.sort(key=lambda c: (c.attempt, c.created_at or epoch), reverse=True)
    return out


def should_restart(container: Mapping[str, Any], pod: Mapping[str, Any],
                   latest: ObservedContainer | None) -> bool:
    """pkg/kubelet/container/helpers.go ShouldContainerBeRestarted."""
    if deleting(pod):
        return False
    if latest is None:
        return True
    if latest.state == RUNNING:
        return False
    if latest.state in (UNKNOWN, CREATED):
        return True
    policy = restart_policy(pod)
    if policy == "Never":
        return False
    return not (policy == "OnFailure" and latest.exit_code == 0)


# ---- container statuses ---------------------------------------------------------------------

def terminated_reason(c: ObservedContainer) -> str:
    # the CRI runtime's reason (containerd/cri-o): OOMKilled, Completed, Error
    if c.oom_killed:
        return "OOMKilled"
    return "Completed" if c.exit_code == 0 else "Error"


def _convert(c: ObservedContainer, old: Mapping[str, Any] | None, image: str) -> dict[str, Any]:
    """convertToAPIContainerStatuses.convertContainerStatus."""
    cid = f"runc://{c.id}"
    image = c.image or image
    status: dict[str, Any] = {"name": c.name, "restartCount": c.attempt, "image": image,
                              "imageID": f"kubeproc://{image}", "containerID": cid,
                              "lastState": {}, "ready": False}
    if c.state == RUNNING:
        status["state"] = {"running": {"startedAt": rfc3339(c.started_at)}}
    elif c.state == EXITED:
        term = {"exitCode": c.exit_code, "reason": terminated_reason(c),
                "startedAt": rfc3339(c.started_at), "finishedAt": rfc3339(c.finished_at),
                "containerID": cid}
        if c.message:
            term["message"] = c.message
        status["state"] = {"terminated": term}
    elif c.state == UNKNOWN and old is not None and "running" in (old.get("state") or {}):
        # the container vanished while running: report it terminated, counted as a restart
        status["state"] = {"terminated": {
            "exitCode": 137, "reason": "ContainerStatusUnknown", "startedAt": None,
            "finishedAt": None,
            "message": "The container could not be located when the pod was terminated"}}
        status["restartCount"] = int(old.get("restartCount") or 0) + 1
    else:  # created or unknown: waiting to be running
        status["state"] = {"waiting": {}}
    return status


def _volume_mounts(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    # RecursiveReadOnlyMounts (beta, on in 1.33): each mount echoed; read-only ones say Disabled
    out = []
    for m in spec.get("volumeMounts") or []:
        vm: dict[str, Any] = {"name": m.get("name"), "mountPath": m.get("mountPath")}
        if m.get("readOnly"):
            vm["readOnly"] = True
            vm["recursiveReadOnly"] = "Disabled"
        out.append(vm)
    return out


def _default_status(spec: Mapping[str, Any], has_init: bool,
                    old: Mapping[str, Any] | None) -> dict[str, Any]:
    if old is not None and "terminated" in (old.get("state") or {}):
        return dict(old)
    reason = POD_INITIALIZING if has_init else CONTAINER_CREATING
    status: dict[str, Any] = {"name": spec["name"], "image": spec.get("image", ""),
                              "imageID": "", "state": {"waiting": {"reason": reason}},
                              "lastState": {}, "ready": False, "restartCount": 0}
    if old is not None:
        status["restartCount"] = old.get("restartCount", 0)
        status["lastState"] = old.get("lastState") or {}
    return status


def _vanished(status: dict[str, Any], old: Mapping[str, Any] | None, has_init: bool,
              pod: Mapping[str, Any]) -> None:
    """A container that was running and is no longer listed at all stopped, not 'waiting'."""
    if old is None or "running" not in (old.get("state") or {}):
        return
    default = POD_INITIALIZING if has_init else CONTAINER_CREATING
    if (status["state"].get("waiting") or {}).get("reason") != default:
        return
    if "terminated" in (status.get("lastState") or {}):
        return
    status["lastState"] = {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown", "startedAt": None, "finishedAt": None,
        "message": "The container could not be located when the pod was deleted.  "
                   "The container used to be Running"}}
    if not deleting(pod):
        status["restartCount"] = int(status.get("restartCount") or 0) + 1


def _probe_fields(status: dict[str, Any], spec: Mapping[str, Any], latest: ObservedContainer | None,
                  probes: Mapping[str, Probes], is_init: bool) -> None:
    """pkg/kubelet/prober/prober_manager.go UpdatePodStatus (isContainerStarted, readiness)."""
    running = "running" in status["state"] and latest is not None and latest.state == RUNNING
    result = probes.get(latest.id, Probes()) if latest is not None else Probes()
    started = running and (not spec.get("startupProbe") or result.startup == PROBE_SUCCESS)
    status["started"] = started
    if is_init and not is_sidecar(spec):
        term = status["state"].get("terminated")
        status["ready"] = bool(term) and term.get("exitCode") == 0
        return
    status["ready"] = started and (not spec.get("readinessProbe")
                                   or result.readiness == PROBE_SUCCESS)


def container_statuses(pod: Mapping[str, Any], specs: list[Mapping[str, Any]],
                       by_name: Mapping[str, list[ObservedContainer]],
                       old_list: list[Mapping[str, Any]] | None, is_init: bool,
                       probes: Mapping[str, Probes],
                       waiting: Mapping[str, tuple[str, str]]) -> list[dict[str, Any]]:
    """kubelet_pods.go convertToAPIContainerStatuses (+ probe fields); `waiting` is the
    reason cache: container name -> (reason, message) of its last failed start."""
    has_init = bool(init_specs(pod))
    olds = {o.get("name"): o for o in old_list or []}
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name = spec["name"]
        status = _default_status(spec, has_init, olds.get(name))
        instances = by_name.get(name) or []
        if not instances:
            _vanished(status, olds.get(name), has_init, pod)
        else:
            image = spec.get("image", "")
            status = _convert(instances[0], olds.get(name), image)
            if len(instances) > 1:
                status["lastState"] = _convert(instances[1], None, image)["state"]
        latest = instances[0] if instances else None
        skip = is_init and latest is not None and latest.state == EXITED and latest.exit_code == 0
        if not skip and name in waiting and should_restart(spec, pod, latest):
            if "terminated" in status["state"]:
                status["lastState"] = status["state"]
            reason, message = waiting[name]
            status["state"] = {"waiting": {"reason": reason, **({"message": message}
                                                                 if message else {})}}
        _probe_fields(status, spec, latest, probes, is_init)
        vms = _volume_mounts(spec)
        if vms:
            status["volumeMounts"] = vms
        out[name] = status
    if is_init:  # SortStatusesOfInitContainers: spec order
        return [out[s["name"]] for s in specs]
    return [out[n] for n in sorted(out)]  # SortedContainerStatuses: by name


def _with_transition_times(new: list[dict[str, Any]], old: list[Mapping[str, Any]],
                           now: _dt.datetime) -> list[dict[str, Any]]:
    """status_manager.go updateLastTransitionTime: unchanged status keeps its time."""
    olds = {c.get("type"): c for c in old}
    for c in new:
        prev = olds.get(c["type"])
        c["lastProbeTime"] = None
        keep = prev is not None and prev.get("status") == c["status"]
        c["lastTransitionTime"] = (prev.get("lastTransitionTime") if keep and prev else None) \
            or rfc3339(now)
    return new


def generate(pod: Mapping[str, Any], *, sandbox: ObservedSandbox | None,
             containers: Iterable[ObservedContainer], probes: Mapping[str, Probes],
             waiting: Mapping[str, tuple[str, str]], host_ips: tuple[str, ...],
             pod_is_terminal: bool, now: _dt.datetime) -> dict[str, Any]:
    """kubelet_pods.go generateAPIPodStatus + status_manager.go: the status to write.
    Fields the kubelet does not own (qosClass, nominatedNodeName, ...) are kept."""
    old: Mapping[str, Any] = copy.deepcopy(pod.get("status") or {})  # the output shares nothing
    by_name = instances_by_name(containers)
    inits = container_statuses(pod, init_specs(pod), by_name, old.get("initContainerStatuses"),
                               True, probes, waiting)
    regular = container_statuses(pod, regular_specs(pod), by_name, old.get("containerStatuses"),
                                 False, probes, waiting)
    status = {k: v for k, v in old.items() if k not in _KUBELET_FIELDS}
    phase = get_phase(pod, inits + regular, pod_is_terminal)
    if phase not in TERMINAL_PHASES and old.get("phase") in TERMINAL_PHASES:
        phase = old["phase"]  # pods never leave a terminal phase
    status["phase"] = phase
    if phase == old.get("phase"):
        for key in ("reason", "message"):
            if old.get(key):
                status[key] = old[key]
    sandbox_ok = sandbox is not None and sandbox.ready and bool(sandbox.ip)
    if sandbox_ok:
        status["podIP"], status["podIPs"] = sandbox.ip, [{"ip": sandbox.ip}]
    elif old.get("podIPs"):  # kubernetes#125404: a stopped pod keeps its IP
        status["podIP"], status["podIPs"] = old.get("podIP"), old["podIPs"]
    if host_ips:
        status["hostIP"], status["hostIPs"] = host_ips[0], [{"ip": ip} for ip in host_ips]
    elif old.get("hostIP"):
        status["hostIP"] = old["hostIP"]
        status["hostIPs"] = old.get("hostIPs") or [{"ip": old["hostIP"]}]
    status["startTime"] = old.get("startTime") or rfc3339(now)
    by = {s["name"]: s for s in inits + regular}
    conds = [dict(c) for c in old.get("conditions") or []
             if c.get("type") not in KUBELET_CONDITIONS]
    cready = containers_ready(pod, by, phase)
    conds += [cond("PodReadyToStartContainers", sandbox_ok), initialized(pod, by, phase),
              pod_ready(pod, cready, conds), cready, cond("PodScheduled", True)]
    status["conditions"] = _with_transition_times(conds[-5:], old.get("conditions") or [], now)
    status["conditions"] = conds[:-5] + status["conditions"]
    status["containerStatuses"] = regular
    if inits:
        status["initContainerStatuses"] = inits
    return status


_LOST = {"exitCode": 137, "reason": "ContainerStatusUnknown",
         "message": "The container could not be located when the pod was terminated"}


def _has_initialized(pod: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
    """status_manager.go hasPodInitialized."""
    inits = init_specs(pod)
    if not inits:
        return True
    for cs in status.get("containerStatuses") or []:
        if "terminated" in (cs.get("lastState") or {}) or "waiting" not in cs["state"]:
            return True
    ics = status.get("initContainerStatuses") or []
    if not ics:
        return False
    last, spec = ics[-1], inits[len(ics) - 1]
    if is_sidecar(spec):
        return "running" in last["state"] and bool(last.get("started"))
    return any((last.get(k) or {}).get("terminated", {}).get("exitCode", 1) == 0
               for k in ("lastState", "state"))


def terminated_status(pod: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    """status_manager.go TerminatePod: once every container is stopped, a status that is not
    terminated reads as lost (137) and the phase becomes terminal. Returns a new dict."""
    out = copy.deepcopy(status)
    if _has_initialized(pod, out):
        for cs in out.get("containerStatuses") or []:
            if "terminated" not in cs["state"]:
                cs["state"] = {"terminated": dict(_LOST)}
    ics = out.get("initContainerStatuses") or []
    started = [i for i, cs in enumerate(ics)  # initializedContainers: all but the unstarted suffix
               if "waiting" not in cs["state"] or "terminated" in (cs.get("lastState") or {})]
    for cs in ics[:(started[-1] + 1) if started else 1]:
        if "terminated" not in cs["state"]:
            cs["state"] = {"terminated": dict(_LOST)}
    if out.get("phase") not in TERMINAL_PHASES:
        out["phase"] = "Failed"
    return out
