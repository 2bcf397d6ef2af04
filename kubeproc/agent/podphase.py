"""Pod phase and the kubelet's pod conditions, from the API container statuses: pure.

Ports pkg/kubelet/kubelet_pods.go getPhase and pkg/kubelet/status/generate.go
(GenerateContainersReadyCondition, GeneratePodReadyCondition, GeneratePodInitializedCondition),
plus the few spec accessors they and the rest of the agent's planning share.
"""

from __future__ import annotations

from typing import Any, Mapping

TERMINAL_PHASES = ("Succeeded", "Failed")


# ---- spec helpers ---------------------------------------------------------------------------

def spec_of(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    return pod.get("spec") or {}


def init_specs(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(spec_of(pod).get("initContainers") or [])


def regular_specs(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(spec_of(pod).get("containers") or [])


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """pkg/api/v1/pod IsRestartableInitContainer."""
    return container.get("restartPolicy") == "Always"


def restart_policy(pod: Mapping[str, Any]) -> str:
    return spec_of(pod).get("restartPolicy") or "Always"


def deleting(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


# ---- phase and conditions -------------------------------------------------------------------

def _has_regular_started(pod: Mapping[str, Any], statuses: Mapping[str, Mapping[str, Any]]) -> bool:
    """pkg/kubelet/container/helpers.go HasAnyRegularContainerStarted."""
    for c in regular_specs(pod):
        st = (statuses.get(c["name"]) or {}).get("state") or {}
        if "running" in st or "terminated" in st:
            return True
    return False


def get_phase(pod: Mapping[str, Any], statuses: list[Mapping[str, Any]],
              pod_is_terminal: bool) -> str:
    """kubelet_pods.go getPhase."""
    by = {s["name"]: s for s in statuses}
    policy = restart_policy(pod)
    pending_init = failed_init = unknown = running = waiting = stopped = succeeded = 0
    for c in init_specs(pod):
        s = by.get(c["name"])
        st, last = ((s or {}).get("state") or {}), ((s or {}).get("lastState") or {})
        if is_sidecar(c):
            if s is None:
                unknown += 1
            elif "running" in st:
                pending_init += 0 if s.get("started") else 1
                running += 1
            elif "waiting" in st and "terminated" not in last:
                pending_init += 1
                waiting += 1
            elif not st:
                pending_init += 1
                unknown += 1
            continue
        if s is None or "running" in st or not st:
            pending_init += 1
        elif "terminated" in st:
            failed_init += st["terminated"].get("exitCode", 0) != 0
        elif "terminated" in last:
            failed_init += last["terminated"].get("exitCode", 0) != 0
        else:
            pending_init += 1
    for c in regular_specs(pod):
        s = by.get(c["name"])
        st, last = ((s or {}).get("state") or {}), ((s or {}).get("lastState") or {})
        if s is None or not st:
            unknown += 1
        elif "running" in st:
            running += 1
        elif "terminated" in st:
            stopped += 1
            succeeded += st["terminated"].get("exitCode", 0) == 0
        elif "terminated" in last:
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if (pending_init and not _has_regular_started(pod, by)) or waiting:
        return "Pending"
    if running and not unknown:
        return "Running"
    if not running and stopped and not unknown:
        if pod_is_terminal:
            return "Succeeded" if stopped == succeeded else "Failed"
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        return "Failed" if policy == "Never" else "Running"
    return "Pending"


def cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
    c: dict[str, Any] = {"type": ctype, "status": "True" if ok else "False"}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def _go_list(names: list[str]) -> str:
    return "[" + " ".join(names) + "]"  # fmt %s of a []string


def containers_ready(pod: Mapping[str, Any], by: Mapping[str, Mapping[str, Any]],
                     phase: str) -> dict[str, Any]:
    """status/generate.go GenerateContainersReadyCondition."""
    unknown, unready = [], []
    for c in [c for c in init_specs(pod) if is_sidecar(c)] + regular_specs(pod):
        s = by.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not s.get("ready"):
            unready.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return cond("ContainersReady", False, "PodCompleted")
    if phase == "Failed":
        return cond("ContainersReady", False, "PodFailed")
    msgs = ([f"containers with unknown status: {_go_list(unknown)}"] if unknown else []) + \
           ([f"containers with unready status: {_go_list(unready)}"] if unready else [])
    if msgs:
        return cond("ContainersReady", False, "ContainersNotReady", ", ".join(msgs))
    return cond("ContainersReady", True)


def pod_ready(pod: Mapping[str, Any], cready: Mapping[str, Any],
              conditions: list[Mapping[str, Any]]) -> dict[str, Any]:
    """status/generate.go GeneratePodReadyCondition (readiness gates included)."""
    if cready["status"] != "True":
        return cond("Ready", False, cready.get("reason", ""), cready.get("message", ""))
    msgs = []
    for gate in spec_of(pod).get("readinessGates") or []:
        ctype = gate.get("conditionType")
        found = next((c for c in conditions if c.get("type") == ctype), None)
        if found is None:
            msgs.append(f'corresponding condition of pod readiness gate "{ctype}" does not exist.')
        elif found.get("status") != "True":
            msgs.append(f'the status of pod readiness gate "{ctype}" is not "True", '
                        f'but {found.get("status")}')
    if msgs:
        return cond("Ready", False, "ReadinessGatesNotReady", ", ".join(msgs))
    return cond("Ready", True)


def initialized(pod: Mapping[str, Any], by: Mapping[str, Mapping[str, Any]],
                phase: str) -> dict[str, Any]:
    """status/generate.go GeneratePodInitializedCondition."""
    unknown, incomplete = [], []
    for c in init_specs(pod):
        s = by.get(c["name"])
        if s is None:
            unknown.append(c["name"])
        elif not (s.get("started") if is_sidecar(c) else s.get("ready")):
            incomplete.append(c["name"])
    if phase == "Succeeded" and not unknown:
        return cond("Initialized", True, "PodCompleted")
    if _has_regular_started(pod, by):
        return cond("Initialized", True)
    msgs = ([f"containers with unknown status: {_go_list(unknown)}"] if unknown else []) + \
           ([f"containers with incomplete status: {_go_list(incomplete)}"] if incomplete else [])
    if msgs:
        return cond("Initialized", False, "ContainersNotInitialized", ", ".join(msgs))
    return cond("Initialized", True)


