"""The pod worker's decisions (kubeproc.agent.plan) against upstream
pkg/kubelet/kuberuntime/kuberuntime_manager.go (computePodActions, SyncPod, doBackOff),
kuberuntime_container.go (computeInitContainerActions, killContainer),
pkg/kubelet/container/helpers.go (ShouldContainerBeRestarted) and the pod worker's termination."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import random
from typing import Any

import pytest

from kubeproc.agent.backoff import BackoffConfig, BackoffEntry, BackoffState
from kubeproc.agent.plan import PodActions, PodInputs, plan
from kubeproc.agent.podstatus import ObservedContainer, ObservedSandbox, Probes

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = T0 + dt.timedelta(seconds=100)
SB = ObservedSandbox("sb", True, "10.1.0.7")


def at(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def ctr(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", **extra}


def sidecar(name: str, **extra: Any) -> dict[str, Any]:
    return ctr(name, restartPolicy="Always", **extra)


def pod(*containers: dict, inits: tuple = (), policy: str = "Always", delete: int | None = None,
        status: dict | None = None, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"containers": list(containers) or [ctr("app")], "restartPolicy": policy,
                         "terminationGracePeriodSeconds": 30, **spec}
    if inits:
        s["initContainers"] = list(inits)
    meta: dict[str, Any] = {"name": "web", "namespace": "default", "uid": "u1"}
    if delete is not None:
        meta["deletionTimestamp"] = "2026-01-01T00:02:00Z"
        meta["deletionGracePeriodSeconds"] = delete
    return {"metadata": meta, "spec": s, "status": status or {"phase": "Running"}}


def running(name: str, attempt: int = 0) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "running", "busybox",
                             created_at=at(attempt), started_at=at(attempt))


def exited(name: str, code: int = 0, attempt: int = 0, finished: float = 50) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-{attempt}", attempt, "exited", "busybox",
                             created_at=at(attempt), started_at=at(attempt),
                             finished_at=at(finished), exit_code=code)


def unknown(name: str) -> ObservedContainer:
    return ObservedContainer(name, f"{name}-0", 0, "unknown", "busybox")


def inputs(p: dict, *containers: ObservedContainer, sandbox: ObservedSandbox | None = SB,
           **kw: Any) -> PodInputs:
    return PodInputs(pod=p, now=NOW, sandbox=sandbox, containers=containers, **kw)


def summary(a: PodActions) -> dict[str, Any]:
    """The decisions as comparable values; tables name only the keys they check."""
    cs = {s["name"]: s for k in ("initContainerStatuses", "containerStatuses")
          for s in a.status.get(k, [])}
    return {
        "create": a.create_sandbox, "kill_pod": a.kill_pod, "teardown": a.teardown_sandbox,
        "delete": a.delete_pod, "start": [s.name for s in a.start],
        "attempts": {s.name: s.attempt for s in a.start},
        "kill": [(k.name, k.reason, k.message) for k in a.kill],
        "grace": {k.name: k.grace_period_seconds for k in a.kill},
        "prestop": {k.name: k.run_pre_stop for k in a.kill},
        "force": [f.name for f in a.force_kill], "wakeup": a.next_wakeup,
        "phase": a.status["phase"],
        "waiting": {n: (s["state"].get("waiting") or {}).get("reason") for n, s in cs.items()
                    if "waiting" in s["state"]},
        "ready": next(c["status"] for c in a.status["conditions"] if c["type"] == "Ready"),
        "backoff": {k: e.backoff for k, e in a.backoff.entries.items()},
    }


def backoff(seconds: float, last_update: float = 40) -> BackoffState:
    return BackoffState().with_entry("app", BackoffEntry(seconds, at(last_update)))


LIVENESS = {"exec": {"command": ["true"]}}
CASES = [
    # (id, inputs, expected subset of summary())
    ("new-pod-creates-sandbox-and-starts-containers", inputs(pod(ctr("a"), ctr("b")), sandbox=None),
     {"create": True, "start": ["a", "b"], "attempts": {"a": 0, "b": 0}, "phase": "Pending"}),
    ("new-pod-with-init-starts-first-init-only",
     inputs(pod(inits=(ctr("i1"), ctr("i2"))), sandbox=None), {"create": True, "start": ["i1"]}),
    ("init-containers-run-one-at-a-time", inputs(pod(inits=(ctr("i1"), ctr("i2")))),
     {"start": ["i1"], "create": False}),
    ("running-init-blocks-the-next", inputs(pod(inits=(ctr("i1"), ctr("i2"))), running("i1")),
     {"start": [], "phase": "Pending"}),
    ("next-init-after-previous-succeeds", inputs(pod(inits=(ctr("i1"), ctr("i2"))), exited("i1")),
     {"start": ["i2"]}),
    ("regular-containers-start-after-init",
     inputs(pod(ctr("a"), ctr("b"), inits=(ctr("i1"),)), exited("i1")), {"start": ["a", "b"]}),
    ("sidecar-started-then-next-init",
     inputs(pod(inits=(sidecar("proxy"), ctr("i2"))), running("proxy")), {"start": ["i2"]}),
    ("sidecar-waits-for-startup-probe",
     inputs(pod(inits=(sidecar("proxy", startupProbe=LIVENESS), ctr("i2"))), running("proxy")),
     {"start": []}),
    ("sidecar-startup-failure-kills-init-container",
     inputs(pod(inits=(sidecar("proxy", startupProbe=LIVENESS),)), running("proxy"),
            probes={"proxy-0": Probes(startup="failure")}),
     {"kill": [("proxy", "StartupProbe", "Init container proxy failed startup probe")], "start": []}),
    ("last-sidecar-started-then-regular-containers",
     inputs(pod(inits=(sidecar("proxy"),)), running("proxy")), {"start": ["app"]}),
    ("sidecar-restarted-while-pod-runs",
     inputs(pod(inits=(sidecar("proxy"),)), exited("proxy", 1), running("app")),
     {"start": ["proxy"], "attempts": {"proxy": 1}, "phase": "Running"}),
    ("failed-init-restarted-onfailure", inputs(pod(inits=(ctr("i1"),), policy="OnFailure"),
                                               exited("i1", 1)), {"start": ["i1"]}),
    ("failed-init-never-policy-pod-failed", inputs(pod(inits=(ctr("i1"),), policy="Never"),
                                                   exited("i1", 1)),
     {"start": [], "kill_pod": True, "teardown": True, "phase": "Failed"}),
    ("onfailure-does-not-restart-exit-0", inputs(pod(policy="OnFailure"), exited("app", 0)),
     {"start": [], "phase": "Succeeded", "teardown": True}),
    ("onfailure-restarts-nonzero-exit", inputs(pod(policy="OnFailure"), exited("app", 1)),
     {"start": ["app"], "attempts": {"app": 1}, "phase": "Running"}),
    ("always-restarts-exit-0", inputs(pod(), exited("app", 0)), {"start": ["app"]}),
    ("never-policy-failed-container-pod-failed", inputs(pod(policy="Never"), exited("app", 3)),
     {"start": [], "phase": "Failed", "kill_pod": True, "teardown": True, "delete": False}),
    ("finished-pod-stops-its-sidecars",
     inputs(pod(inits=(sidecar("proxy"),), policy="Never"), running("proxy"), exited("app", 0)),
     {"start": [], "kill_pod": True, "kill": [("proxy", "", "Stopping container proxy")],
      "teardown": False, "phase": "Running"}),
    ("first-crash-restarts-immediately", inputs(pod(), exited("app", 1)),
     {"start": ["app"], "backoff": {"app": 10}, "waiting": {}}),
    ("crashloop-backoff-waits", inputs(pod(), exited("app", 1, attempt=1, finished=95),
                                       backoff=backoff(10)),
     {"start": [], "waiting": {"app": "CrashLoopBackOff"}, "wakeup": at(105),
      "backoff": {"app": 10}}),
    ("crashloop-backoff-doubles", inputs(pod(), exited("app", 1, attempt=1, finished=85),
                                         backoff=backoff(10)),
     {"start": ["app"], "attempts": {"app": 2}, "backoff": {"app": 20}}),
    ("backoff-resets-after-10-minutes",
     inputs(pod(), exited("app", 1, attempt=7, finished=90), backoff=backoff(300, -600)),
     {"start": ["app"], "backoff": {"app": 10}}),
    ("crashloop-init-blocks-later-containers",
     inputs(pod(inits=(ctr("i1"),), policy="OnFailure"), exited("i1", 1, finished=95),
            backoff=BackoffState().with_entry("i1", BackoffEntry(10, at(40)))),
     {"start": [], "waiting": {"i1": "CrashLoopBackOff", "app": "PodInitializing"}}),
    ("liveness-failure-kills-container",
     inputs(pod(ctr("app", livenessProbe=LIVENESS)), running("app"),
            probes={"app-0": Probes(liveness="failure")}),
     {"kill": [("app", "LivenessProbe", "Container app failed liveness probe, will be restarted")],
      "start": [], "grace": {"app": 30}, "wakeup": at(130)}),
    ("liveness-failure-never-policy-not-restarted",
     inputs(pod(ctr("app", livenessProbe=LIVENESS), ctr("db"), policy="Never"), running("app"),
            running("db"), probes={"app-0": Probes(liveness="failure")}),
     {"kill": [("app", "LivenessProbe", "Container app failed liveness probe")], "kill_pod": False}),
    ("liveness-failure-of-last-never-container-kills-pod",
     inputs(pod(ctr("app", livenessProbe=LIVENESS), policy="Never"), running("app"),
            probes={"app-0": Probes(liveness="failure")}),
     {"kill": [("app", "", "Stopping container app")], "kill_pod": True, "teardown": False}),
    ("probe-termination-grace-overrides-pod-grace",
     inputs(pod(ctr("app", livenessProbe={**LIVENESS, "terminationGracePeriodSeconds": 5})),
            running("app"), probes={"app-0": Probes(liveness="failure")}), {"grace": {"app": 5}}),
    ("startup-failure-kills-container",
     inputs(pod(ctr("app", startupProbe=LIVENESS)), running("app"),
            probes={"app-0": Probes(startup="failure")}),
     {"kill": [("app", "StartupProbe", "Container app failed startup probe, will be restarted")]}),
    ("unknown-state-killed-before-restart", inputs(pod(), unknown("app")),
     {"kill": [("app", "Unknown", 'Container is in "unknown" state, try killing it before restart')],
      "start": []}),
    ("readiness-drives-ready-condition",
     inputs(pod(ctr("app", readinessProbe=LIVENESS)), running("app"),
            probes={"app-0": Probes(readiness="success")}), {"ready": "True", "kill": []}),
    ("readiness-failure-not-ready-not-killed",
     inputs(pod(ctr("app", readinessProbe=LIVENESS)), running("app"),
            probes={"app-0": Probes(readiness="failure")}), {"ready": "False", "kill": []}),
    ("dead-sandbox-stops-containers-first",
     inputs(pod(), running("app"), sandbox=ObservedSandbox("sb", False, "", 0)),
     {"kill_pod": True, "create": False, "kill": [("app", "", "Stopping container app")],
      "start": []}),
    ("dead-sandbox-replaced-once-containers-stopped",
     inputs(pod(), exited("app", 137), sandbox=ObservedSandbox("sb", False, "", 0)),
     {"create": True, "teardown": True, "start": ["app"], "attempts": {"app": 1}}),
    ("dead-sandbox-of-never-pod-not-replaced",
     inputs(pod(policy="Never"), exited("app", 0), sandbox=ObservedSandbox("sb", False, "", 0)),
     {"create": False, "start": []}),
    ("deletion-runs-prestop-with-pod-grace",
     inputs(pod(ctr("app", lifecycle={"preStop": {"exec": {"command": ["x"]}}}), delete=30),
            running("app")),
     {"kill": [("app", "", "Stopping container app")], "grace": {"app": 30},
      "prestop": {"app": True}, "wakeup": at(130), "start": [], "delete": False}),
    ("deletion-grace-from-delete-call", inputs(pod(delete=5), running("app")),
     {"grace": {"app": 5}, "prestop": {"app": False}}),
    ("grace-never-below-2-seconds", inputs(pod(delete=0), running("app")), {"grace": {"app": 2}}),
    ("stop-in-progress-not-repeated",
     inputs(pod(delete=30), running("app"), stopping={"app-0": at(120)}),
     {"kill": [], "force": [], "wakeup": at(120)}),
    ("sigkill-after-grace-deadline",
     inputs(pod(delete=30), running("app"), stopping={"app-0": at(99)}),
     {"kill": [], "force": ["app"]}),
    ("deleted-pod-containers-not-restarted", inputs(pod(delete=30), exited("app", 1)),
     {"start": [], "teardown": True, "delete": False, "phase": "Failed"}),
    ("sidecars-stop-after-regular-containers",
     inputs(pod(inits=(sidecar("proxy"),), delete=30), running("proxy"), running("app")),
     {"kill": [("app", "", "Stopping container app")]}),
    ("sidecars-stop-in-reverse-order",
     inputs(pod(inits=(sidecar("p1"), sidecar("p2")), delete=30), running("p1"), running("p2"),
            exited("app", 0)),
     {"kill": [("p2", "", "Stopping container p2")], "grace": {"p2": 20}}),
    ("all-containers-gone-tears-down-sandbox", inputs(pod(delete=30), exited("app", 0)),
     {"teardown": True, "delete": False, "phase": "Succeeded"}),
    ("sandbox-gone-deletes-pod-object", inputs(pod(delete=30), exited("app", 0), sandbox=None),
     {"teardown": False, "delete": True, "create": False}),
    ("stop-under-way-escalates-even-after-probe-recovers",
     inputs(pod(ctr("app", livenessProbe=LIVENESS)), running("app"), stopping={"app-0": at(99)}),
     {"force": ["app"], "start": []}),
    ("deleted-unstarted-pod-ends-failed-with-lost-containers",
     inputs(pod(delete=30), sandbox=None),
     {"delete": True, "phase": "Failed", "waiting": {}}),
    ("deleted-pod-unstarted-init-suffix-stays-waiting",
     inputs(pod(inits=(ctr("i1"), ctr("i2")), delete=30), exited("i1", 143), sandbox=None),
     {"delete": True, "phase": "Failed", "waiting": {"i2": "PodInitializing", "app": "PodInitializing"}}),
    ("terminal-pod-never-restarted",
     inputs(pod(status={"phase": "Succeeded"}), exited("app", 0), sandbox=None),
     {"start": [], "create": False, "delete": False, "phase": "Succeeded"}),
]


@pytest.mark.parametrize("inp,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_plan(inp: PodInputs, expected: dict[str, Any]) -> None:
    before = copy.deepcopy(inp.pod)
    got = summary(plan(inp))
    assert {k: got[k] for k in expected} == expected
    assert inp.pod == before  # the stored pod is not mutated


def test_crashloop_message_names_container_and_pod() -> None:
    a = plan(inputs(pod(), exited("app", 1, attempt=1, finished=95), backoff=backoff(20)))
    cs = a.status["containerStatuses"][0]
    assert cs["state"]["waiting"] == {
        "reason": "CrashLoopBackOff",
        "message": "back-off 20s restarting failed container=app pod=web_default(u1)"}
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["restartCount"] == 1


def test_backoff_base_configurable() -> None:
    cfg = BackoffConfig(initial=0.1, maximum=0.4)
    a = plan(inputs(pod(), exited("app", 1, finished=99.95), backoff=backoff(0.1, 99.9),
                    backoff_config=cfg))
    assert a.start == () and a.next_wakeup == at(100.05)


def test_lost_container_reported_like_terminate_pod() -> None:
    a = plan(inputs(pod(delete=30), sandbox=None))
    assert a.status["containerStatuses"][0]["state"] == {"terminated": {
        "exitCode": 137, "reason": "ContainerStatusUnknown",
        "message": "The container could not be located when the pod was terminated"}}


def test_restart_count_continues_when_instances_are_gone() -> None:
    p = pod(status={"phase": "Running", "containerStatuses": [
        {"name": "app", "restartCount": 4, "containerID": "runc://old", "lastState": {},
         "state": {"terminated": {"exitCode": 1}}}]})
    a = plan(inputs(p))
    assert [(s.name, s.attempt) for s in a.start] == [("app", 5)]


# ---- invariants over simulated runs (upstream statefulset's assertMonotonicInvariants style) ----

class FakeRuntime:
    """Applies PodActions the way the executor must, with random exits and probe results."""

    def __init__(self, p: dict, rng: random.Random) -> None:
        self.pod, self.rng, self.now = p, rng, T0
        self.sandbox: ObservedSandbox | None = None
        self.instances: list[ObservedContainer] = []
        self.stopping: dict[str, dt.datetime] = {}
        self.probes: dict[str, Probes] = {}
        self.backoff = BackoffState()
        self.next_id, self.sandboxes, self.deleted = 0, 0, False
        self.started: dict[str, int] = {}  # instances ever started per container name

    def replace(self, c: ObservedContainer, **kw: Any) -> None:
        self.instances = [dataclasses.replace(i, **kw) if i.id == c.id else i for i in self.instances]

    def exit(self, c: ObservedContainer, code: int) -> None:
        self.replace(c, state="exited", exit_code=code, finished_at=self.now)
        self.stopping.pop(c.id, None)

    def live(self) -> list[ObservedContainer]:
        return [c for c in self.instances if c.state != "exited"]

    def perturb(self) -> None:
        """The world moves: containers crash, probes report, a user deletes the pod."""
        self.now += dt.timedelta(seconds=self.rng.choice([0.5, 1, 3, 7, 15, 40]))
        for c in self.live():
            if c.id not in self.stopping and self.rng.random() < 0.12:
                self.exit(c, self.rng.choice([0, 1, 137]))
            self.probes[c.id] = Probes(readiness=self.rng.choice(["success", "success", "failure"]),
                                       liveness="failure" if self.rng.random() < 0.04 else "success",
                                       startup="success")
        meta = self.pod["metadata"]
        if "deletionTimestamp" not in meta and self.rng.random() < 0.01:
            meta["deletionTimestamp"] = rfc(self.now + dt.timedelta(seconds=10))
            meta["deletionGracePeriodSeconds"] = 10

    def observe(self) -> PodInputs:
        keep: dict[str, int] = {}
        latest_two = []
        for c in sorted(self.instances, key=lambda c: -c.attempt):  # runtime GC keeps two per name
            keep[c.name] = keep.get(c.name, 0) + 1
            if keep[c.name] <= 2 or c.state != "exited":
                latest_two.append(c)
        self.instances = latest_two
        return PodInputs(pod=copy.deepcopy(self.pod), now=self.now, sandbox=self.sandbox,
                         containers=tuple(self.instances), probes=dict(self.probes),
                         backoff=self.backoff, stopping=dict(self.stopping),
                         backoff_config=BackoffConfig(initial=2, maximum=20))

    def apply(self, a: PodActions) -> None:
        for f in a.force_kill:
            self.exit(next(c for c in self.instances if c.id == f.container_id), 137)
        for k in a.kill:
            c = next(c for c in self.instances if c.id == k.container_id)
            if c.state != "running" or self.rng.random() < 0.7:
                self.exit(c, self.rng.choice([0, 143]))
            else:  # ignores SIGTERM: SIGKILL must follow at the deadline
                self.stopping[c.id] = k.deadline
        if a.teardown_sandbox:
            assert not self.live(), "sandbox torn down under running containers"
            self.sandbox = None
        if a.create_sandbox:
            assert not self.live(), "new sandbox while old containers run"
            self.sandboxes += 1
            self.sandbox = ObservedSandbox(f"sb{self.sandboxes}", True, "10.1.0.9")
        for s in a.start:
            assert self.sandbox is not None and self.sandbox.ready
            self.next_id += 1
            self.started[s.name] = self.started.get(s.name, 0) + 1
            self.instances.append(ObservedContainer(s.name, f"c{self.next_id}", s.attempt, "running",
                                                    "busybox", created_at=self.now,
                                                    started_at=self.now))
        self.backoff = a.backoff
        self.pod["status"] = a.status
        if a.delete_pod:
            assert not self.live() and self.sandbox is None, "pod object deleted before cleanup"
            self.deleted = True


def rfc(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_invariants(inp: PodInputs, a: PodActions, prev: dict | None, counts: dict[str, int],
                     started: dict[str, int]) -> None:
    status = a.status
    if prev is not None and prev.get("phase") in ("Succeeded", "Failed"):
        assert status["phase"] == prev["phase"], "phase left a terminal state"
    all_statuses = status.get("initContainerStatuses", []) + status["containerStatuses"]
    for cs in all_statuses:
        assert cs["restartCount"] >= counts.get(cs["name"], 0), f"restartCount of {cs['name']} went down"
        counts[cs["name"]] = cs["restartCount"]
        if cs.get("containerID") and "waiting" not in cs["state"]:  # reports the latest instance
            assert cs["restartCount"] == started[cs["name"]] - 1, "restartCount != restarts"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    if ready["status"] == "True":
        sidecars = {c["name"] for c in inp.pod["spec"].get("initContainers", [])
                    if c.get("restartPolicy") == "Always"}
        served = [cs for cs in all_statuses if cs["name"] in sidecars] + status["containerStatuses"]
        running_names = {c.name for c in inp.containers if c.state == "running"}
        assert all("running" in cs["state"] and cs["ready"] for cs in served)
        assert all(cs["name"] in running_names for cs in served)
    per_name: dict[str, int] = {}
    for c in inp.containers:
        per_name[c.name] = per_name.get(c.name, 0) + (c.state == "running")
    assert all(n <= 1 for n in per_name.values()), f"two running instances: {per_name}"


SIM_PODS = [
    ("always-single", pod(ctr("app", livenessProbe=LIVENESS, readinessProbe=LIVENESS))),
    ("onfailure-with-init", pod(ctr("a"), ctr("b"), inits=(ctr("i1"), ctr("i2")), policy="OnFailure")),
    ("never-with-init-and-sidecar", pod(ctr("app"), inits=(ctr("i1"), sidecar("proxy")), policy="Never")),
    ("always-with-two-sidecars", pod(ctr("app", readinessProbe=LIVENESS),
                                     inits=(sidecar("p1", startupProbe=LIVENESS), sidecar("p2")))),
]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shape", [p for _, p in SIM_PODS], ids=[i for i, _ in SIM_PODS])
def test_invariants_hold_through_random_runs(shape: dict, seed: int) -> None:
    rt = FakeRuntime(copy.deepcopy(shape), random.Random(seed))
    prev: dict | None = None
    counts: dict[str, int] = {}
    for _ in range(400):
        rt.perturb()
        inp = rt.observe()
        a = plan(inp)
        check_invariants(inp, a, prev, counts, rt.started)
        prev = a.status
        rt.apply(a)
        if rt.deleted:
            break
    if "deletionTimestamp" in rt.pod["metadata"]:
        assert rt.deleted, "a deleted pod's object was never removed"
