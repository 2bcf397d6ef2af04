"""Randomised simulation of the StatefulSet plan against a fake cluster (pure, no I/O).

Every step: plan → apply all actions to the fake cluster (checking invariants as each is
applied) → the "world" moves (pods become Running+Ready, terminating pods go away, the garbage
collector removes claims whose owning pod is gone, optionally a pod fails or a user deletes
one). Checked after every step for every combination of podManagementPolicy × updateStrategy ×
scenario: one pod per ordinal, OrderedReady creation order, one condemned pod terminating at a
time under OrderedReady, claims created before pods and named `<t>-<set>-<i>`, convergence.
"""

from __future__ import annotations

import copy
import itertools
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from kubeproc.controllers.statefulset import identity as ident
from kubeproc.controllers.statefulset.actions import (
    AdoptPod, AdoptRevision, CreateClaim, CreatePod, CreateRevision, DeletePod, DeleteRevision, ReleasePod,
    UpdateClaimOwnerRefs, UpdatePod, UpdateRevision, UpdateStatus)
from kubeproc.controllers.statefulset.plan import plan

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeCluster:
    def __init__(self, sts: dict[str, Any], rng: random.Random, chaos: bool) -> None:
        self.sts, self.rng, self.chaos = sts, rng, chaos
        self.pods: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.revisions: dict[str, dict[str, Any]] = {}
        self.now = T0
        self.uids = itertools.count(1)
        self.violations: list[str] = []
        self.step_no = 0

    # -- helpers --
    def _uid(self) -> str:
        return f"uid-{next(self.uids)}"

    def _in_range(self, ordinal: int) -> bool:
        return ident.start_ordinal(self.sts) <= ordinal <= ident.end_ordinal(self.sts)

    def _bad(self, msg: str) -> None:
        self.violations.append(f"step {self.step_no}: {msg}")

    def ordered(self) -> bool:
        return self.sts["spec"].get("podManagementPolicy") != "Parallel"

    # -- the controller's writes --
    def _create_pod(self, pod: dict[str, Any]) -> None:
        name = pod["metadata"]["name"]
        ordinal = ident.ordinal_of(pod)
        if name in self.pods:
            self._bad(f"second pod for ordinal {ordinal} ({name}) while one exists")
            return
        if self.ordered():
            min_ready = int(self.sts["spec"].get("minReadySeconds") or 0)
            for lower in range(ident.start_ordinal(self.sts), ordinal):
                p = self.pods.get(f"{self.sts['metadata']['name']}-{lower}")
                if p is None or not ident.is_healthy(p) or not ident.is_running_and_available(p, min_ready, self.now):
                    self._bad(f"{name} created before ordinal {lower} was Running+Ready+available")
        for t in self.sts["spec"].get("volumeClaimTemplates") or []:
            want = f"{t['metadata']['name']}-{self.sts['metadata']['name']}-{ordinal}"
            vols = {v["name"]: v for v in pod["spec"].get("volumes") or []}
            got = ((vols.get(t["metadata"]["name"]) or {}).get("persistentVolumeClaim") or {}).get("claimName")
            if got != want:
                self._bad(f"{name} mounts claim {got!r}, want {want!r}")
            if want not in self.claims:
                self._bad(f"{name} created before its claim {want}")
        if pod["spec"].get("hostname") != name or pod["metadata"]["labels"].get(ident.POD_NAME_LABEL) != name:
            self._bad(f"{name} lacks its identity")
        stored = copy.deepcopy(pod)
        stored["metadata"].update(uid=self._uid(), creationTimestamp=_ts(self.now))
        stored["status"] = {"phase": "Pending"}
        self.pods[name] = stored

    def _delete_pod(self, a: DeletePod) -> None:
        pod = self.pods.get(a.name)
        if pod is None:
            return
        if a.uid and pod["metadata"]["uid"] != a.uid:
            return
        pod["metadata"].setdefault("deletionTimestamp", _ts(self.now))
        if self.ordered():
            condemned = [p for p in self.pods.values()
                         if not self._in_range(ident.ordinal_of(p)) and ident.is_terminating(p)]
            if len(condemned) > 1:
                self._bad(f"{len(condemned)} condemned pods terminating at once")

    def apply(self, actions: list[Any]) -> None:
        for a in actions:
            if isinstance(a, CreateRevision):
                name = a.revision["metadata"]["name"]
                assert name not in self.revisions, f"revision {name} exists"
                rev = copy.deepcopy(a.revision)
                rev["metadata"].update(uid=self._uid(), creationTimestamp=_ts(self.now))
                self.revisions[name] = rev
            elif isinstance(a, UpdateRevision):
                self.revisions[a.name]["revision"] = a.revision
            elif isinstance(a, DeleteRevision):
                self.revisions.pop(a.name, None)
            elif isinstance(a, CreateClaim):
                name = a.claim["metadata"]["name"]
                assert name not in self.claims, f"claim {name} exists"
                claim = copy.deepcopy(a.claim)
                claim["metadata"]["uid"] = self._uid()
                self.claims[name] = claim
            elif isinstance(a, CreatePod):
                self._create_pod(a.pod)
            elif isinstance(a, DeletePod):
                self._delete_pod(a)
            elif isinstance(a, UpdatePod):
                self.pods[a.pod["metadata"]["name"]] = copy.deepcopy(a.pod)
            elif isinstance(a, UpdateClaimOwnerRefs):
                self.claims[a.name]["metadata"]["ownerReferences"] = copy.deepcopy(a.owner_references)
            elif isinstance(a, UpdateStatus):
                self.sts["status"] = copy.deepcopy(a.status)
            elif isinstance(a, (AdoptPod, ReleasePod, AdoptRevision)):
                raise AssertionError(f"unexpected ownership change {a}")

    # -- the world --
    def tick(self, on_delete_user: bool) -> None:
        self.now += timedelta(seconds=2)
        for pod in list(self.pods.values()):
            if ident.is_terminating(pod):
                if self.rng.random() < 0.5:
                    del self.pods[pod["metadata"]["name"]]
                continue
            if ident.phase(pod) == "Pending" and self.rng.random() < 0.6:
                pod["status"] = {"phase": "Running", "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": _ts(self.now)}]}
            elif self.chaos and self.step_no < 40 and ident.phase(pod) == "Running" and self.rng.random() < 0.03:
                pod["status"] = {"phase": "Failed"}
        if on_delete_user:
            update = (self.sts.get("status") or {}).get("updateRevision")
            for pod in list(self.pods.values()):
                if ident.pod_revision(pod) != update and not ident.is_terminating(pod) and self.rng.random() < 0.3:
                    pod["metadata"]["deletionTimestamp"] = _ts(self.now)
        live = {p["metadata"]["uid"] for p in self.pods.values()}
        for name, claim in list(self.claims.items()):  # the garbage collector
            owners = [r["uid"] for r in claim["metadata"].get("ownerReferences") or [] if r["kind"] == "Pod"]
            if owners and not any(u in live for u in owners):
                del self.claims[name]

    def step(self, on_delete_user: bool = False) -> None:
        self.step_no += 1
        result = plan(self.sts, list(self.pods.values()), list(self.claims.values()),
                      list(self.revisions.values()), self.now)
        self.apply(result.actions)
        self.tick(on_delete_user)

    def converged(self) -> bool:
        n, st = ident.replicas_of(self.sts), self.sts.get("status") or {}
        update = st.get("updateRevision")
        pods = list(self.pods.values())
        if len(pods) != n or any(not self._in_range(ident.ordinal_of(p)) for p in pods):
            return False
        if any(not ident.is_healthy(p) or ident.pod_revision(p) != update for p in pods):
            return False
        min_ready = int(self.sts["spec"].get("minReadySeconds") or 0)
        if any(not ident.is_running_and_available(p, min_ready, self.now) for p in pods):
            return False
        done = st.get("replicas") == n and st.get("readyReplicas", 0) == n and st.get("updatedReplicas", 0) == n
        if self.sts["spec"]["updateStrategy"]["type"] == "RollingUpdate":
            done = done and st.get("currentRevision") == update and st.get("availableReplicas") == n
        return done

    def settle(self) -> None:
        """Once converged, syncs with no world change must reach a fixed point without pod
        churn: a status write, the history truncation it unlocks, claim ownerRef fixes."""
        for _ in range(4):
            result = plan(self.sts, list(self.pods.values()), list(self.claims.values()),
                          list(self.revisions.values()), self.now)
            if not result.actions:
                return
            if any(isinstance(a, (CreatePod, DeletePod, CreateClaim, CreateRevision)) for a in result.actions):
                self._bad(f"converged set still plans {result.actions}")
                return
            self.apply(result.actions)
        self._bad("no fixed point after convergence")

    def run_until_converged(self, limit: int, on_delete_user: bool = False) -> int:
        for i in range(limit):
            self.step(on_delete_user)
            if self.violations:
                return i
            if self.converged():
                self.settle()
                return i
        return limit


def _make_set(policy: str, strategy: str, rng: random.Random) -> dict[str, Any]:
    update: dict[str, Any] = {"type": strategy}
    if strategy == "RollingUpdate":
        update["rollingUpdate"] = {"partition": 0, "maxUnavailable": rng.choice([1, 2, "50%"])}
    return {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "default", "uid": "set-uid", "generation": 1},
        "spec": {
            "replicas": 3, "serviceName": "nginx", "podManagementPolicy": policy,
            "selector": {"matchLabels": {"app": "nginx"}},
            "ordinals": {"start": rng.choice([0, 3])},
            "minReadySeconds": rng.choice([0, 0, 5]),
            "revisionHistoryLimit": rng.choice([0, 1, 10]),
            "template": {"metadata": {"labels": {"app": "nginx"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {"accessModes": ["ReadWriteOnce"]}}],
            "updateStrategy": update,
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": rng.choice(["Retain", "Delete"]),
                                                     "whenScaled": rng.choice(["Retain", "Delete"])},
        },
        "status": {},
    }


def _change(sts: dict[str, Any], scenario: str) -> None:
    if scenario == "scale-up":
        sts["spec"]["replicas"] = 6
    elif scenario == "scale-down":
        sts["spec"]["replicas"] = 1
    elif scenario == "scale-to-zero":
        sts["spec"]["replicas"] = 0
    else:
        sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
        sts["metadata"]["generation"] += 1
    sts["metadata"]["generation"] += scenario not in ("template", "rollback")


COMBOS = [(p, s, sc) for p in ("OrderedReady", "Parallel") for s in ("RollingUpdate", "OnDelete")
          for sc in ("scale-up", "scale-down", "scale-to-zero", "template", "rollback")]


@pytest.mark.parametrize("policy,strategy,scenario", COMBOS, ids=["-".join(c) for c in COMBOS])
@pytest.mark.parametrize("seed", range(6))
def test_invariants_hold_and_converge(policy: str, strategy: str, scenario: str, seed: int) -> None:
    rng = random.Random(f"{policy}/{strategy}/{scenario}/{seed}")
    sts = _make_set(policy, strategy, rng)
    cluster = FakeCluster(sts, rng, chaos=seed % 2 == 1)
    steps = cluster.run_until_converged(400)
    assert not cluster.violations, cluster.violations[:5]
    assert steps < 400 and cluster.converged(), "initial rollout did not converge"
    before = copy.deepcopy(cluster.claims)
    first_revision = sts["status"]["updateRevision"]
    on_delete_user = strategy == "OnDelete" and scenario in ("template", "rollback")
    _change(sts, scenario)
    if scenario == "rollback":  # revert the template mid-rollout
        for _ in range(5):
            cluster.step(on_delete_user)
        sts["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1"
        sts["metadata"]["generation"] += 1
    steps = cluster.run_until_converged(400, on_delete_user=on_delete_user)
    assert not cluster.violations, cluster.violations[:5]
    assert steps < 400 and cluster.converged(), f"did not converge after {scenario}"
    n = ident.replicas_of(sts)
    start = ident.start_ordinal(sts)
    assert sorted(cluster.pods) == sorted(f"web-{start + i}" for i in range(n))
    for name, pod in cluster.pods.items():  # claim identity survives re-creation
        claim = f"www-{name}"
        assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim
        assert claim in cluster.claims
        if scenario in ("template", "rollback") and claim in before:
            assert cluster.claims[claim]["metadata"]["uid"] == before[claim]["metadata"]["uid"]
    if scenario == "rollback":  # the earlier revision is reused, renumbered
        assert sts["status"]["updateRevision"] == first_revision
        assert cluster.revisions[first_revision]["revision"] == 3
    when_deleted = sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"]
    for name in cluster.pods:  # live claims encode whenDeleted only (no pod ref while in range)
        owners = {r["kind"] for r in cluster.claims[f"www-{name}"]["metadata"].get("ownerReferences") or []}
        assert owners == ({"StatefulSet"} if when_deleted == "Delete" else set()), (name, owners)
    assert sts["status"]["observedGeneration"] == sts["metadata"]["generation"]
    limit = sts["spec"]["revisionHistoryLimit"]
    live = {sts["status"]["currentRevision"], sts["status"]["updateRevision"]}
    assert len(set(cluster.revisions) - live) <= limit
    when_scaled = sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"]
    if scenario in ("scale-down", "scale-to-zero") and when_scaled == "Delete":
        assert sorted(cluster.claims) == sorted(f"www-web-{start + i}" for i in range(n))
    if scenario in ("scale-down", "scale-to-zero") and when_scaled == "Retain":
        assert len(cluster.claims) == 3  # scaled-down claims are kept


def test_simulation_detects_out_of_order_creation() -> None:
    """The harness must be able to fail: creating web-1 while web-0 is Pending is caught."""
    rng = random.Random(0)
    sts = _make_set("OrderedReady", "RollingUpdate", rng)
    cluster = FakeCluster(sts, rng, chaos=False)
    cluster.step_no = 1
    cluster.apply([CreateClaim({"metadata": {"name": "www-web-%d" % (ident.start_ordinal(sts) + i)}}, "")
                   for i in range(2)])
    start = ident.start_ordinal(sts)
    cluster.apply([CreatePod(ident.new_pod(sts, start, "r")), CreatePod(ident.new_pod(sts, start + 1, "r"))])
    assert any("created before ordinal" in v for v in cluster.violations)
