"""The pod worker's decisions: a pod's spec × what the runtime shows × `now` → actions, status.

Pure. Ports pkg/kubelet/kuberuntime/kuberuntime_manager.go (computePodActions, SyncPod's order
and doBackOff), kuberuntime_container.go (computeInitContainerActions, findNextInitContainerToRun,
killContainer's grace period) and the pod worker's termination (pod_workers.go,
kubelet.go syncTerminatingPod / syncTerminatedPod, status_manager.go canBeDeleted).
The executor applies a PodActions in this order: force_kill, kill, teardown_sandbox,
create_sandbox, start (in order; stop at the first failed non-sidecar init container), write
`status`, then delete_pod (grace 0, uid precondition).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from kubeproc.agent import backoff as bo
from kubeproc.agent.podphase import (TERMINAL_PHASES, deleting, init_specs, is_sidecar,
                                     regular_specs, restart_policy, spec_of)
from kubeproc.agent.podstatus import (CREATED, EXITED, PROBE_FAILURE, RUNNING, UNKNOWN,
                                      ObservedContainer, ObservedSandbox, Probes, generate,
                                      instances_by_name, parse_time, should_restart,
                                      terminated_status)

MIN_GRACE_SECONDS = 2  # kuberuntime_container.go minimumGracePeriodInSeconds
DEFAULT_GRACE_SECONDS = 30  # pkg/apis/core/v1/defaults.go terminationGracePeriodSeconds
CRASH_LOOP = "CrashLoopBackOff"


@dataclass(frozen=True)
class PodInputs:
    pod: Mapping[str, Any]  # as stored; never mutated
    now: _dt.datetime
    sandbox: ObservedSandbox | None = None
    containers: tuple[ObservedContainer, ...] = ()  # the latest two instances per name suffice
    probes: Mapping[str, Probes] = field(default_factory=dict)  # container id -> results
    backoff: bo.BackoffState = field(default_factory=bo.BackoffState)
    stopping: Mapping[str, _dt.datetime] = field(default_factory=dict)  # id -> SIGKILL deadline
    start_failures: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # name -> reason
    host_ips: tuple[str, ...] = ()
    backoff_config: bo.BackoffConfig = field(default_factory=bo.BackoffConfig)


@dataclass(frozen=True)
class StartContainer:
    name: str
    init: bool  # from spec.initContainers (sidecars included)
    attempt: int  # the restartCount the new instance records


@dataclass(frozen=True)
class KillContainer:
    """Run the preStop hook (if asked, bounded by `deadline`) then SIGTERM; SIGKILL at `deadline`
    if still running. The executor records `deadline` in PodInputs.stopping under the container
    id until the container has exited; while it is there the plan asks for no second stop."""

    name: str
    container_id: str
    reason: str  # kuberuntime containerKillReason: LivenessProbe | StartupProbe | Unknown | ""
    message: str
    grace_period_seconds: int
    run_pre_stop: bool
    deadline: _dt.datetime


@dataclass(frozen=True)
class ForceKill:
    name: str
    container_id: str


@dataclass(frozen=True)
class PodActions:
    """One sync's decisions. `kill_pod` is informational (every live container is in `kill` or
    being stopped); `backoff` is the state to keep for the next plan; `next_wakeup` is when to
    plan again even if nothing is observed to change (back-off release, SIGKILL deadlines)."""

    status: dict[str, Any]
    backoff: bo.BackoffState
    create_sandbox: bool = False
    sandbox_attempt: int = 0
    purge_init_containers: bool = False  # a replaced sandbox reruns init containers
    kill_pod: bool = False
    teardown_sandbox: bool = False
    kill: tuple[KillContainer, ...] = ()
    force_kill: tuple[ForceKill, ...] = ()
    start: tuple[StartContainer, ...] = ()
    delete_pod: bool = False
    next_wakeup: _dt.datetime | None = None
    waiting_on: str = ""


@dataclass
class _Changes:
    """computePodActions' podActions."""

    create_sandbox: bool = False
    attempt: int = 0
    kill_pod: bool = False
    init_to_start: list[int] = field(default_factory=list)
    to_start: list[int] = field(default_factory=list)
    to_kill: list[tuple[ObservedContainer, str, str]] = field(default_factory=list)


# ---- computePodActions ----------------------------------------------------------------------

def _sandbox_changed(inp: PodInputs) -> tuple[bool, int]:
    """kuberuntime/util PodSandboxChanged: missing, not ready or without an IP -> new sandbox."""
    sb = inp.sandbox
    if sb is None:
        return True, 0
    if not sb.ready or (not sb.ip and not spec_of(inp.pod).get("hostNetwork")):
        return True, sb.attempt + 1
    return False, sb.attempt


def _state(latest: Mapping[str, ObservedContainer], spec: Mapping[str, Any]) -> str | None:
    c = latest.get(spec["name"])
    return None if c is None else c.state


def _init_failed(c: ObservedContainer) -> bool:
    """kuberuntime_container.go isInitContainerFailed."""
    return (c.state == EXITED and c.exit_code != 0) or c.state == UNKNOWN


def _init_done(pod: Mapping[str, Any], latest: Mapping[str, ObservedContainer]) -> bool:
    """kuberuntime_container.go findNextInitContainerToRun's `done`."""
    inits = init_specs(pod)
    if not inits or any(_state(latest, c) == RUNNING for c in regular_specs(pod)):
        return True
    if any(latest.get(c["name"]) is not None and _init_failed(latest[c["name"]]) for c in inits):
        return False
    for i in range(len(inits) - 1, -1, -1):
        st = latest.get(inits[i]["name"])
        if st is not None and st.state in (RUNNING, EXITED):
            return st.state == EXITED and i == len(inits) - 1
    return False


def _probe(inp: PodInputs, c: ObservedContainer) -> Probes:
    return inp.probes.get(c.id, Probes())


def _sidecar_action(inp: PodInputs, i: int, spec: Mapping[str, Any], st: ObservedContainer,
                    ch: _Changes, previously: bool) -> bool:
    """computeInitContainerActions for a running restartable init container; True once started."""
    res = _probe(inp, st)
    if spec.get("startupProbe") and res.startup != "success":
        if res.startup == PROBE_FAILURE:
            ch.to_kill.append((st, "StartupProbe",
                               f"Init container {spec['name']} failed startup probe"))
            ch.init_to_start.append(i)
        return False
    if not previously and i < len(init_specs(inp.pod)) - 1:
        ch.init_to_start.append(i + 1)  # initialized for the first time: start the next one
    if spec.get("livenessProbe") and res.liveness == PROBE_FAILURE:
        ch.to_kill.append((st, "LivenessProbe",
                           f"Init container {spec['name']} failed liveness probe"))
        ch.init_to_start.append(i)
    return True


def _init_actions(inp: PodInputs, latest: Mapping[str, ObservedContainer], ch: _Changes) -> bool:
    """kuberuntime_container.go computeInitContainerActions; returns podHasInitialized."""
    inits = init_specs(inp.pod)
    if not inits:
        return True
    initialized = any(_state(latest, c) in (CREATED, RUNNING) for c in regular_specs(inp.pod))
    previously = initialized
    restart_on_failure = restart_policy(inp.pod) != "Never"
    for i in range(len(inits) - 1, -1, -1):  # the last known init container tells the progress
        spec, st = inits[i], latest.get(inits[i]["name"])
        last = i == len(inits) - 1
        if st is None:
            if previously and is_sidecar(spec):
                ch.init_to_start.append(i)
            continue
        if previously and not is_sidecar(spec):
            continue  # after initialization only sidecars are kept running
        if st.state == CREATED:
            ch.init_to_start.append(i)
        elif st.state == RUNNING:
            if is_sidecar(spec) and _sidecar_action(inp, i, spec, st, ch, previously) and last:
                initialized = True
        elif st.state == EXITED and is_sidecar(spec):
            ch.init_to_start.append(i)
        elif st.state == EXITED and not _init_failed(st):
            if last:
                initialized = True
            else:
                ch.init_to_start.append(i + 1)
        else:  # a failed (or unknown) init container: restart it, or the pod has failed
            if not is_sidecar(spec) and not restart_on_failure:
                ch.kill_pod, ch.init_to_start = True, []
                return False
            if st.state == UNKNOWN:
                ch.to_kill.append((st, "Unknown", f'Init container is in "{st.state}" state, '
                                                  'try killing it before restart'))
            ch.init_to_start.append(i)
        previously = True
    if not previously:
        ch.init_to_start.append(0)
    ch.init_to_start.reverse()  # collected backwards; start in spec order
    return initialized


def _regular_actions(inp: PodInputs, latest: Mapping[str, ObservedContainer], ch: _Changes) -> None:
    """computePodActions' loop over spec.containers, then 'nothing left to run -> KillPod'."""
    keep = 0
    for idx, spec in enumerate(regular_specs(inp.pod)):
        name, st = spec["name"], latest.get(spec["name"])
        if st is None or st.state != RUNNING:
            if should_restart(spec, inp.pod, st):
                ch.to_start.append(idx)
                if st is not None and st.state == UNKNOWN:
                    ch.to_kill.append((st, "Unknown", f'Container is in "{st.state}" state, '
                                                      'try killing it before restart'))
            continue
        res = _probe(inp, st)
        if res.liveness == PROBE_FAILURE:
            reason, message = "LivenessProbe", f"Container {name} failed liveness probe"
        elif res.startup == PROBE_FAILURE:
            reason, message = "StartupProbe", f"Container {name} failed startup probe"
        else:
            keep += 1
            continue
        if restart_policy(inp.pod) != "Never":
            message += ", will be restarted"
            ch.to_start.append(idx)
        ch.to_kill.append((st, reason, message))
    if keep == 0 and not ch.to_start:
        ch.kill_pod, ch.init_to_start = True, []  # sidecars must not keep a finished pod alive


def compute_pod_actions(inp: PodInputs, latest: Mapping[str, ObservedContainer]) -> _Changes:
    """kuberuntime_manager.go computePodActions (no ephemeral containers, no resize)."""
    pod = inp.pod
    create, attempt = _sandbox_changed(inp)
    ch = _Changes(create_sandbox=create, attempt=attempt, kill_pod=create)
    if create:
        if restart_policy(pod) == "Never" and attempt != 0 and inp.containers:
            ch.create_sandbox = False  # a finished pod is not given a new sandbox
            return ch
        to_start = [i for i, c in enumerate(regular_specs(pod))
                    if not (restart_policy(pod) == "OnFailure" and _state(latest, c) == EXITED
                            and latest[c["name"]].exit_code == 0)]
        if not to_start and _init_done(pod, latest):
            ch.create_sandbox = False
            return ch
        if init_specs(pod):
            ch.init_to_start = [0]
        else:
            ch.to_start = to_start
        return ch
    if not _init_actions(inp, latest, ch) or ch.kill_pod:
        return ch
    _regular_actions(inp, latest, ch)
    return ch


# ---- SyncPod: kills, back-off, starts -------------------------------------------------------

def _grace(pod: Mapping[str, Any], spec: Mapping[str, Any] | None, reason: str) -> int:
    """killContainer's grace: the deletion's, a failed probe's own, else the pod's."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionGracePeriodSeconds") is not None:
        return int(meta["deletionGracePeriodSeconds"])
    probe = {"LivenessProbe": "livenessProbe", "StartupProbe": "startupProbe"}.get(reason)
    if probe and spec and (spec.get(probe) or {}).get("terminationGracePeriodSeconds") is not None:
        return int(spec[probe]["terminationGracePeriodSeconds"])
    tgps = spec_of(pod).get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_SECONDS if tgps is None else int(tgps)


def _spec_by_name(pod: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c["name"]: c for c in init_specs(pod) + regular_specs(pod)}


def _kill(inp: PodInputs, c: ObservedContainer, reason: str, message: str,
          kills: list[KillContainer], force: list[ForceKill], wake: list[_dt.datetime],
          not_before: _dt.datetime | None = None) -> None:
    """One container to stop: a new KillContainer, or the SIGKILL of a stop past its deadline."""
    if c.id in inp.stopping:
        if inp.now >= inp.stopping[c.id]:
            force.append(ForceKill(c.name, c.id))
        else:
            wake.append(inp.stopping[c.id])
        return
    spec = _spec_by_name(inp.pod).get(c.name) or {}
    grace = max(_grace(inp.pod, spec, reason), MIN_GRACE_SECONDS)
    deadline = inp.now + _dt.timedelta(seconds=grace)
    if not_before is not None and not_before > inp.now + _dt.timedelta(seconds=MIN_GRACE_SECONDS):
        deadline = min(deadline, not_before)  # a sidecar shares the pod's deletion budget
    pre_stop = c.state == RUNNING and bool((spec.get("lifecycle") or {}).get("preStop"))
    kills.append(KillContainer(c.name, c.id, reason, message or f"Stopping container {c.name}",
                               int((deadline - inp.now).total_seconds()), pre_stop, deadline))
    wake.append(deadline)


def _starts(inp: PodInputs, ch: _Changes, by_name: Mapping[str, list[ObservedContainer]],
            busy: set[str]) -> tuple[list[StartContainer], bo.BackoffState,
                                     dict[str, tuple[str, str]], list[_dt.datetime]]:
    """SyncPod steps 6 and 8 with doBackOff: init containers in order, then regular ones."""
    pod, now, cfg = inp.pod, inp.now, inp.backoff_config
    meta = pod.get("metadata") or {}
    inits, regular = init_specs(pod), regular_specs(pod)
    order = ([(inits[i], True) for i in ch.init_to_start]
             + [(regular[i], False) for i in ch.to_start])
    starts, state, waiting, wake = [], inp.backoff, {}, []
    old = {s.get("name"): s for key in ("initContainerStatuses", "containerStatuses")
           for s in (pod.get("status") or {}).get(key) or []}
    for spec, is_init in order:
        name, blocking = spec["name"], is_init and not is_sidecar(spec)
        instances = by_name.get(name) or []
        if name in busy:  # still being stopped: start it once it is gone
            if blocking:
                break
            continue
        exited = next((c for c in instances if c.state == EXITED and c.finished_at), None)
        if exited is not None and bo.in_backoff(state, name, exited.finished_at, now, cfg):
            entry = state.get(name)
            assert entry is not None
            waiting[name] = (CRASH_LOOP, bo.crashloop_message(
                entry.backoff, name, meta.get("name", ""), meta.get("namespace", ""),
                meta.get("uid", "")))
            wake.append(bo.release_at(state, name, exited.finished_at))
            if blocking:
                break
            continue
        if exited is not None:
            state = bo.next_backoff(state, name, exited.finished_at, now, cfg)
        if instances:
            attempt = instances[0].attempt + 1
        else:  # no instance left: continue from the reported count (the kubelet reads its logs dir)
            prev = old.get(name) or {}
            attempt = int(prev.get("restartCount") or 0) + (1 if prev.get("containerID") else 0)
        starts.append(StartContainer(name, is_init, attempt))
    return starts, state, waiting, wake


def _live(inp: PodInputs) -> list[ObservedContainer]:
    return [c for c in inp.containers if c.state in (RUNNING, CREATED, UNKNOWN)]


def plan(inp: PodInputs) -> PodActions:
    """Everything one sync of the pod worker decides, for the observed state at `inp.now`."""
    by_name = instances_by_name(inp.containers)
    if deleting(inp.pod) or (inp.pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
        return _terminate(inp, by_name)
    latest = {n: lst[0] for n, lst in by_name.items()}
    ch = compute_pod_actions(inp, latest)
    live = _live(inp)
    kills: list[KillContainer] = []
    force: list[ForceKill] = []
    wake: list[_dt.datetime] = []
    targets = [(c, "", "") for c in live] if ch.kill_pod else ch.to_kill
    targets += [(c, "", "") for c in live  # a stop under way is seen through to its SIGKILL
                if c.id in inp.stopping and all(c is not t for t, _, _ in targets)]
    for c, reason, message in targets:
        _kill(inp, c, reason, message, kills, force, wake)
    busy = {c.name for c, _, _ in targets}
    can_start = not ch.kill_pod or (ch.create_sandbox and not live)
    starts, state, waiting, more = (_starts(inp, ch, by_name, busy) if can_start
                                    else ([], inp.backoff, {}, []))
    status = generate(inp.pod, sandbox=inp.sandbox, containers=inp.containers, probes=inp.probes,
                      waiting={**inp.start_failures, **waiting}, host_ips=inp.host_ips,
                      pod_is_terminal=False, now=inp.now)
    if status["phase"] in TERMINAL_PHASES:  # syncPod saw a terminal phase: the pod terminates
        return _terminate(inp, by_name)
    create = ch.create_sandbox and not live
    teardown = ch.kill_pod and not live and inp.sandbox is not None
    return PodActions(
        status=status, backoff=state, create_sandbox=create, sandbox_attempt=ch.attempt,
        purge_init_containers=create and inp.sandbox is not None, kill_pod=ch.kill_pod,
        teardown_sandbox=teardown, kill=tuple(kills), force_kill=tuple(force), start=tuple(starts),
        next_wakeup=min(wake + more, default=None),
        waiting_on=_waiting_on(live, ch.kill_pod, waiting))


def _waiting_on(live: list[ObservedContainer], kill_pod: bool, waiting: Mapping[str, Any]) -> str:
    if kill_pod and live:
        return f"{len(live)} container(s) stopping"
    if waiting:
        return "back-off: " + ", ".join(sorted(waiting))
    return ""


# ---- termination ----------------------------------------------------------------------------

def _terminate(inp: PodInputs, by_name: Mapping[str, list[ObservedContainer]]) -> PodActions:
    """pod_workers.go terminating → terminated: regular containers stop first, then sidecars in
    reverse order (kuberuntime_termination_order.go); once nothing runs, the sandbox goes, and a
    deleted pod's object is removed (status_manager.go canBeDeleted → Delete with grace 0)."""
    pod, live = inp.pod, _live(inp)
    sidecars = [c["name"] for c in init_specs(pod) if is_sidecar(c)]
    live_names = {c.name for c in live}
    regular_live = [c for c in live if c.name not in sidecars]
    budget = parse_time((pod.get("metadata") or {}).get("deletionTimestamp"))
    kills: list[KillContainer] = []
    force: list[ForceKill] = []
    wake: list[_dt.datetime] = []
    for c in live:
        if c.name in sidecars and c.id not in inp.stopping:
            later = sidecars[sidecars.index(c.name) + 1:]
            if regular_live or any(n in live_names for n in later):
                continue  # a sidecar waits for the containers it serves
        _kill(inp, c, "", "", kills, force, wake, not_before=budget if c.name in sidecars else None)
    status = generate(pod, sandbox=inp.sandbox, containers=inp.containers, probes=inp.probes,
                      waiting={}, host_ips=inp.host_ips, pod_is_terminal=not live, now=inp.now)
    if not live:
        status = terminated_status(pod, status)
    teardown = not live and inp.sandbox is not None
    delete = not live and inp.sandbox is None and deleting(pod)
    waiting_on = (f"{len(live)} container(s) stopping" if live
                  else "sandbox teardown" if teardown else "")
    return PodActions(status=status, backoff=inp.backoff, kill_pod=True, teardown_sandbox=teardown,
                      kill=tuple(kills), force_kill=tuple(force), delete_pod=delete,
                      next_wakeup=min(wake, default=None), waiting_on=waiting_on)
