"""The status the agent reports (kubeproc.agent.podstatus, podphase) against upstream
pkg/kubelet/kubelet_pods.go (getPhase, convertToAPIContainerStatuses, generateAPIPodStatus),
pkg/kubelet/prober/prober_manager.go (UpdatePodStatus) and pkg/kubelet/status/generate.go."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from kubeproc.agent.podphase import get_phase
from kubeproc.agent.podstatus import ObservedContainer, ObservedSandbox, Probes, from_runtime, generate
from kubeproc.agent.runtime.protocol import ContainerState, ExitStatus

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(seconds=100)
OLD_TS = "2025-12-31T00:00:00Z"
SB = ObservedSandbox("sb", True, "10.1.0.7")


def at(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def ctr(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **extra}


def pod(*containers: dict, inits: tuple = (), policy: str = "Always", status: dict | None = None,
        **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": list(containers), "restartPolicy": policy, **spec}
    if inits:
        s["initContainers"] = list(inits)
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": s,
            "status": status if status is not None else {"phase": "Pending", "qosClass": "BestEffort"}}


def running(name: str, cid: str = "", attempt: int = 0) -> ObservedContainer:
    return ObservedContainer(name, cid or f"{name}-{attempt}", attempt, "running", "busybox",
                             created_at=at(attempt), started_at=at(attempt))


def exited(name: str, code: int = 0, attempt: int = 0, oom: bool = False) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "exited", "busybox",
                             created_at=at(attempt), started_at=at(attempt),
                             finished_at=at(attempt + 1), exit_code=code, oom_killed=oom)


def get(obj: Any, path: str) -> Any:
    """Dotted path; a non-numeric segment on a list picks the item with that type or name."""
    for seg in path.split("."):
        if isinstance(obj, list):
            obj = obj[int(seg)] if seg.isdigit() else next(
                i for i in obj if seg in (i.get("type"), i.get("name")))
        else:
            obj = obj.get(seg) if obj is not None else None
    return obj


RUN = {"running": {"startedAt": "2026-01-01T00:00:00Z"}}
APP = ctr("app")
CASES = [
    # (id, pod, containers, probes, waiting, pod_is_terminal, sandbox, {path: expected})
    ("default-waiting-container-creating", pod(APP), (), {}, {}, False, None,
     {"phase": "Pending", "containerStatuses.app.state": {"waiting": {"reason": "ContainerCreating"}},
      "containerStatuses.app.imageID": "", "containerStatuses.app.started": False,
      "conditions.PodReadyToStartContainers.status": "False", "podIP": None}),
    ("init-pod-containers-wait-podinitializing", pod(APP, inits=(ctr("setup"),)), (), {}, {},
     False, SB, {"containerStatuses.app.state.waiting.reason": "PodInitializing",
                 "initContainerStatuses.setup.state.waiting.reason": "PodInitializing",
                 "conditions.Initialized.status": "False",
                 "conditions.Initialized.message": "containers with incomplete status: [setup]"}),
    ("running-container-reports-ids-and-start", pod(APP), (running("app", "c9"),), {}, {}, False, SB,
     {"phase": "Running", "containerStatuses.app.state": RUN,
      "containerStatuses.app.containerID": "runc://c9",
      "containerStatuses.app.imageID": "kubeproc://busybox", "containerStatuses.app.ready": True,
      "podIP": "10.1.0.7", "podIPs": [{"ip": "10.1.0.7"}], "hostIP": "192.168.1.5",
      "conditions.Ready.status": "True", "qosClass": "BestEffort"}),
    ("exit-0-reason-completed", pod(APP, policy="Never"), (exited("app", 0),), {}, {}, False, SB,
     {"phase": "Succeeded", "containerStatuses.app.state.terminated.reason": "Completed",
      "containerStatuses.app.state.terminated.finishedAt": "2026-01-01T00:00:01Z",
      "conditions.Ready.reason": "PodCompleted", "conditions.ContainersReady.reason": "PodCompleted",
      "conditions.Initialized.reason": "PodCompleted"}),
    ("never-policy-failed-container-pod-failed", pod(APP, policy="Never"), (exited("app", 2),), {},
     {}, False, SB, {"phase": "Failed", "containerStatuses.app.state.terminated.reason": "Error",
                     "containerStatuses.app.state.terminated.exitCode": 2,
                     "conditions.Ready.reason": "PodFailed"}),
    ("oom-killed-reason", pod(APP, policy="Never"), (exited("app", 137, oom=True),), {}, {}, False,
     SB, {"containerStatuses.app.state.terminated.reason": "OOMKilled", "phase": "Failed"}),
    ("onfailure-failed-container-still-running-phase", pod(APP, policy="OnFailure"),
     (exited("app", 1),), {}, {}, False, SB, {"phase": "Running"}),
    ("always-all-exited-is-running-phase", pod(APP), (exited("app", 0),), {}, {}, False, SB,
     {"phase": "Running"}),
    ("terminal-pod-all-exit-0-succeeded", pod(APP), (exited("app", 0),), {}, {}, True, SB,
     {"phase": "Succeeded"}),
    ("crashloop-waiting-keeps-last-terminated", pod(APP), (exited("app", 1, attempt=3),), {},
     {"app": ("CrashLoopBackOff", "back-off 40s restarting failed container=app pod=web_default(u1)")},
     False, SB, {"containerStatuses.app.state.waiting.reason": "CrashLoopBackOff",
                 "containerStatuses.app.lastState.terminated.exitCode": 1,
                 "containerStatuses.app.restartCount": 3, "phase": "Running",
                 "containerStatuses.app.ready": False, "conditions.Ready.status": "False"}),
    ("start-failure-reason-shown-when-never-started", pod(APP), (), {},
     {"app": ("ErrImagePull", "no such image")}, False, SB,
     {"containerStatuses.app.state": {"waiting": {"reason": "ErrImagePull", "message": "no such image"}},
      "phase": "Pending"}),
    ("waiting-reason-ignored-when-not-restarting", pod(APP, policy="Never"), (exited("app", 1),), {},
     {"app": ("CrashLoopBackOff", "x")}, False, SB,
     {"containerStatuses.app.state.terminated.exitCode": 1}),
    ("last-state-from-previous-instance", pod(APP), (running("app", attempt=2), exited("app", 1, 1)),
     {}, {}, False, SB, {"containerStatuses.app.restartCount": 2,
                         "containerStatuses.app.lastState.terminated.containerID": "runc://app-1"}),
    ("readiness-drives-ready-condition-unknown", pod(ctr("app", readinessProbe={"exec": {}})),
     (running("app", "c1"),), {}, {}, False, SB,
     {"containerStatuses.app.ready": False, "containerStatuses.app.started": True,
      "conditions.Ready.status": "False",
      "conditions.ContainersReady.message": "containers with unready status: [app]"}),
    ("readiness-drives-ready-condition-success", pod(ctr("app", readinessProbe={"exec": {}})),
     (running("app", "c1"),), {"c1": Probes(readiness="success")}, {}, False, SB,
     {"containerStatuses.app.ready": True, "conditions.Ready.status": "True"}),
    ("readiness-result-of-other-instance-ignored", pod(ctr("app", readinessProbe={"exec": {}})),
     (running("app", "c2"),), {"c1": Probes(readiness="success")}, {}, False, SB,
     {"containerStatuses.app.ready": False}),
    ("startup-probe-gates-started-and-ready", pod(ctr("app", startupProbe={"exec": {}})),
     (running("app", "c1"),), {"c1": Probes(readiness="success")}, {}, False, SB,
     {"containerStatuses.app.started": False, "containerStatuses.app.ready": False}),
    ("container-statuses-sorted-by-name", pod(ctr("zeta"), ctr("alpha")), (), {}, {}, False, SB,
     {"containerStatuses.0.name": "alpha", "containerStatuses.1.name": "zeta"}),
    ("init-statuses-in-spec-order", pod(APP, inits=(ctr("zz"), ctr("aa"))), (), {}, {}, False, SB,
     {"initContainerStatuses.0.name": "zz", "initContainerStatuses.1.name": "aa"}),
    ("init-exit-0-ready-and-initialized", pod(APP, inits=(ctr("setup"),)),
     (exited("setup", 0), running("app")), {}, {}, False, SB,
     {"initContainerStatuses.setup.ready": True, "conditions.Initialized.status": "True",
      "phase": "Running"}),
    ("init-failed-never-pod-failed", pod(APP, inits=(ctr("setup"),), policy="Never"),
     (exited("setup", 1),), {}, {}, False, SB, {"phase": "Failed"}),
    ("init-running-pod-pending", pod(APP, inits=(ctr("setup"),)), (running("setup"),), {}, {},
     False, SB, {"phase": "Pending", "initContainerStatuses.setup.ready": False}),
    ("sidecar-not-started-pod-pending",
     pod(APP, inits=(ctr("proxy", restartPolicy="Always", startupProbe={"exec": {}}),)),
     (running("proxy"),), {}, {}, False, SB,
     {"phase": "Pending", "initContainerStatuses.proxy.started": False}),
    ("sidecar-started-counts-as-initialized", pod(APP, inits=(ctr("proxy", restartPolicy="Always"),)),
     (running("proxy"),), {}, {}, False, SB,
     {"conditions.Initialized.status": "True", "initContainerStatuses.proxy.ready": True,
      "conditions.ContainersReady.message": "containers with unready status: [app]"}),
    ("sidecar-restarting-keeps-pod-running", pod(APP, inits=(ctr("proxy", restartPolicy="Always"),)),
     (exited("proxy", 1), running("app")), {}, {"proxy": ("CrashLoopBackOff", "x")}, False, SB,
     {"phase": "Running", "conditions.Initialized.status": "True",
      "conditions.Ready.message": "containers with unready status: [proxy]"}),
    ("terminal-phase-never-reverts", pod(APP, status={"phase": "Succeeded"}), (), {}, {}, False,
     None, {"phase": "Succeeded"}),
    ("vanished-running-container-counted-as-restart",
     pod(APP, status={"phase": "Running", "containerStatuses": [
         {"name": "app", "state": RUN, "restartCount": 4, "lastState": {}}]}), (), {}, {}, False, SB,
     {"containerStatuses.app.restartCount": 5,
      "containerStatuses.app.lastState.terminated.reason": "ContainerStatusUnknown",
      "phase": "Running"}),
    ("old-terminated-status-kept-when-instance-gone",
     pod(APP, policy="Never", status={"phase": "Running", "containerStatuses": [
         {"name": "app", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
          "restartCount": 0, "lastState": {}}]}), (), {}, {}, False, SB,
     {"containerStatuses.app.state.terminated.reason": "Completed", "phase": "Succeeded"}),
    ("pod-ip-kept-after-sandbox-gone",
     pod(APP, policy="Never", status={"phase": "Running", "podIP": "10.1.0.3",
                                      "podIPs": [{"ip": "10.1.0.3"}]}),
     (exited("app", 0),), {}, {}, True, None, {"podIP": "10.1.0.3", "phase": "Succeeded"}),
    ("readiness-gate-missing-not-ready", pod(APP, readinessGates=[{"conditionType": "x.io/lb"}]),
     (running("app"),), {}, {}, False, SB,
     {"conditions.Ready.reason": "ReadinessGatesNotReady",
      "conditions.Ready.message": 'corresponding condition of pod readiness gate "x.io/lb" does not exist.',
      "conditions.ContainersReady.status": "True"}),
    ("readiness-gate-true-ready", pod(APP, readinessGates=[{"conditionType": "x.io/lb"}],
                                     status={"conditions": [{"type": "x.io/lb", "status": "True"}]}),
     (running("app"),), {}, {}, False, SB, {"conditions.Ready.status": "True",
                                            "conditions.0.type": "x.io/lb"}),
    ("volume-mounts-echoed",
     pod(ctr("app", volumeMounts=[{"name": "tok", "mountPath": "/var/run/t", "readOnly": True}])),
     (), {}, {}, False, SB,
     {"containerStatuses.app.volumeMounts": [{"name": "tok", "mountPath": "/var/run/t",
                                              "readOnly": True, "recursiveReadOnly": "Disabled"}]}),
    ("start-time-kept", pod(APP, status={"startTime": OLD_TS}), (), {}, {}, False, SB,
     {"startTime": OLD_TS}),
    ("start-time-set-on-first-status", pod(APP), (), {}, {}, False, SB,
     {"startTime": "2026-01-01T00:01:40Z"}),
]


@pytest.mark.parametrize("p,containers,probes,waiting,terminal,sandbox,expected",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_generate(p: dict, containers: tuple, probes: dict, waiting: dict, terminal: bool,
                  sandbox: ObservedSandbox | None, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(p)
    status = generate(p, sandbox=sandbox, containers=containers, probes=probes, waiting=waiting,
                      host_ips=("192.168.1.5",), pod_is_terminal=terminal, now=NOW)
    assert {path: get(status, path) for path in expected} == expected
    assert p == before  # the stored pod is not mutated


def conditions(p: dict, containers: tuple, probes: dict) -> dict[str, dict]:
    status = generate(p, sandbox=SB, containers=containers, probes=probes, waiting={},
                      host_ips=(), pod_is_terminal=False, now=NOW)
    return {c["type"]: c for c in status["conditions"]}


def test_condition_transition_time_carried_when_unchanged() -> None:
    old = [{"type": t, "status": s, "lastTransitionTime": OLD_TS} for t, s in
           [("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "False"),
            ("ContainersReady", "False"), ("PodScheduled", "True")]]
    p = pod(ctr("app", readinessProbe={"exec": {}}), status={"phase": "Running", "conditions": old})
    conds = conditions(p, (running("app", "c1"),), {"c1": Probes(readiness="success")})
    assert conds["Ready"]["lastTransitionTime"] == "2026-01-01T00:01:40Z"  # False -> True
    assert conds["ContainersReady"]["lastTransitionTime"] == "2026-01-01T00:01:40Z"
    assert conds["Initialized"]["lastTransitionTime"] == OLD_TS  # unchanged
    assert conds["PodScheduled"]["lastTransitionTime"] == OLD_TS
    assert all(c["lastProbeTime"] is None for c in conds.values())
    assert list(conds) == ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                           "PodScheduled"]


PHASES = [
    # (id, restartPolicy, statuses, pod_is_terminal, expected) — getPhase on API statuses
    ("no-statuses-pending", "Always", [], False, "Pending"),
    ("waiting-without-history-pending", "Always",
     [{"name": "app", "state": {"waiting": {}}}], False, "Pending"),
    ("waiting-with-last-termination-counts-as-stopped", "Never",
     [{"name": "app", "state": {"waiting": {}}, "lastState": {"terminated": {"exitCode": 1}}}],
     False, "Failed"),
    ("onfailure-all-succeeded", "OnFailure",
     [{"name": "app", "state": {"terminated": {"exitCode": 0}}}], False, "Succeeded"),
    ("terminal-with-failure-failed", "Always",
     [{"name": "app", "state": {"terminated": {"exitCode": 143}}}], True, "Failed"),
    ("running-while-terminal-still-running", "Always",
     [{"name": "app", "state": RUN}], True, "Running"),
]


@pytest.mark.parametrize("policy,statuses,terminal,expected", [c[1:] for c in PHASES],
                         ids=[c[0] for c in PHASES])
def test_get_phase(policy: str, statuses: list, terminal: bool, expected: str) -> None:
    assert get_phase(pod(APP, policy=policy), statuses, terminal) == expected


RUNTIME = [
    # (id, runtime state, expected (state, exit code, finished, oom))
    ("running-is-running", ContainerState("c1", "running", 42, "/b", "2026-01-01T00:00:00.5Z"),
     ("running", 0, None, False)),
    ("created-is-created", ContainerState("c1", "created", 42, "/b"), ("created", 0, None, False)),
    ("stopped-reports-exit", ContainerState("c1", "stopped", 0, "/b", exit=ExitStatus(
        3, finished_at="2026-01-01T00:00:09.123456789Z")), ("exited", 3, T0 + dt.timedelta(seconds=9), False)),
    ("oom-kill-kept", ContainerState("c1", "stopped", 0, "/b", exit=ExitStatus(137, 9, True)),
     ("exited", 137, None, True)),
    ("unobserved-exit-reads-137", ContainerState("c1", "stopped", 0, "/b", exit=ExitStatus(0, unknown=True)),
     ("exited", 137, None, False)),
    ("stopped-without-record-unknown", ContainerState("c1", "stopped", 0, "/b"), ("unknown", 0, None, False)),
]


@pytest.mark.parametrize("st,expected", [c[1:] for c in RUNTIME], ids=[c[0] for c in RUNTIME])
def test_from_runtime(st: ContainerState, expected: tuple) -> None:
    c = from_runtime("app", 2, "redis:7", st, T0)
    assert (c.state, c.exit_code, c.finished_at, c.oom_killed) == expected
    assert (c.name, c.id, c.attempt, c.image, c.started_at) == ("app", "c1", 2, "redis:7", T0)
