"""The Pod table: READY, STATUS, RESTARTS as `kubectl get pods` shows them.

Ports printPod from kubernetes pkg/printers/internalversion/printers.go: the STATUS reason
walk over init containers, sidecars (restartable init containers) and containers, the
"(5m ago)" restart suffix, Terminating/Unknown on deletion, and the Completed row condition.
"""

from __future__ import annotations

from datetime import datetime

from kubeproc.apiserver.tables import age, age_col, col, doc, meta, name_col, parse_time, since

_POD_SPEC = "io.k8s.api.core.v1.PodSpec"
_POD_STATUS = "io.k8s.api.core.v1.PodStatus"


def pod_columns() -> list[dict]:
    return [
        name_col(),
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "string", "The aggregate status of the containers in this pod."),
        col("Restarts", "string", "The number of times the containers in this pod have been "
            "restarted and when the last container in this pod has restarted."),
        age_col(),
        col("IP", "string", doc(_POD_STATUS, "podIP"), 1),
        col("Node", "string", doc(_POD_SPEC, "nodeName"), 1),
        col("Nominated Node", "string", doc(_POD_STATUS, "nominatedNodeName"), 1),
        col("Readiness Gates", "string", doc(_POD_SPEC, "readinessGates"), 1),
    ]


def _is_restartable(container: dict | None) -> bool:
    # pkg/api/pod IsRestartableInitContainer: a sidecar has restartPolicy Always.
    return bool(container) and container.get("restartPolicy") == "Always"


def _later(current: datetime | None, status: dict) -> datetime | None:
    # metav1.Time.Before on lastState.terminated.finishedAt; a zero time never wins.
    finished = parse_time(((status.get("lastState") or {}).get("terminated") or {})
                          .get("finishedAt"))
    if finished is not None and (current is None or current < finished):
        return finished
    return current


def _condition_true(conditions: list[dict], ctype: str) -> bool:
    # printers.go isPodInitializedConditionTrue: the first condition of that type decides.
    for c in conditions:
        if c.get("type") == ctype:
            return c.get("status") == "True"
    return False


def _has_ready(conditions: list[dict]) -> bool:
    # printers.go hasPodReadyCondition: any Ready=True condition.
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _terminated_reason(term: dict, prefix: str) -> str:
    if term.get("reason"):
        return prefix + term["reason"]
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def print_pod(pod: dict, now: datetime) -> dict:
    """printers.go printPod (wide, as the server always generates it)."""
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    containers = spec.get("containers") or []
    init_specs = spec.get("initContainers") or []
    restarts = 0
    sidecar_restarts = 0
    total = len(containers)
    ready = 0
    last_restart: datetime | None = None
    last_sidecar_restart: datetime | None = None

    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for c in conditions:
        if c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    row_conditions: list[dict] = []
    if phase == "Succeeded":
        row_conditions = [{"type": "Completed", "status": "True", "reason": "Succeeded",
                              "message": "The pod has completed successfully."}]
    elif phase == "Failed":
        row_conditions = [{"type": "Completed", "status": "True", "reason": "Failed",
                              "message": "The pod failed."}]

    init_by_name = {c.get("name"): c for c in init_specs}
    total += sum(1 for c in init_specs if _is_restartable(c))

    initializing = False
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        last_restart = _later(last_restart, cs)
        sidecar = _is_restartable(init_by_name.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += int(cs.get("restartCount") or 0)
            last_sidecar_restart = _later(last_sidecar_restart, cs)
        state = cs.get("state") or {}
        term = state.get("terminated")
        waiting = state.get("waiting")
        if term is not None and int(term.get("exitCode") or 0) == 0:
            continue
        if sidecar and cs.get("started"):
            if cs.get("ready"):
                ready += 1
            continue
        if term is not None:
            reason = _terminated_reason(term, "Init:")
        elif waiting is not None and waiting.get("reason") and \
                waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    if not initializing or _condition_true(conditions, "Initialized"):
        restarts = sidecar_restarts
        last_restart = last_sidecar_restart
        has_running = False
        for cs in reversed(status.get("containerStatuses") or []):
            restarts += int(cs.get("restartCount") or 0)
            last_restart = _later(last_restart, cs)
            state = cs.get("state") or {}
            waiting = state.get("waiting")
            term = state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                reason = waiting["reason"]
            elif term is not None:
                reason = _terminated_reason(term, "")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        # A pod whose last container completed is still Running while another one runs.
        if reason == "Completed" and has_running:
            reason = "Running" if _has_ready(conditions) else "NotReady"

    deleting = meta(pod).get("deletionTimestamp") is not None
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Failed", "Succeeded"):
        reason = "Terminating"

    restarts_str = str(restarts)
    if restarts != 0 and last_restart is not None:
        restarts_str = f"{restarts} ({since(last_restart.isoformat(), now)} ago)"

    pod_ips = status.get("podIPs") or []
    # v1 -> internal conversion fills podIPs from podIP when only the latter is set.
    pod_ip = (pod_ips[0].get("ip") if pod_ips else status.get("podIP")) or "<none>"
    gates = spec.get("readinessGates") or []
    readiness = "<none>"
    if gates:
        true_count = 0
        for gate in gates:
            for c in conditions:
                if c.get("type") == gate.get("conditionType"):
                    true_count += c.get("status") == "True"
                    break
        readiness = f"{true_count}/{len(gates)}"
    row: dict = {"cells": [
        meta(pod).get("name", ""), f"{ready}/{total}", reason, restarts_str, age(pod, now),
        pod_ip, spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
        readiness,
    ]}
    if row_conditions:
        row["conditions"] = row_conditions
    return row
