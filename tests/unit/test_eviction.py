"""kubeproc.registry.eviction: the eviction subresource's decisions (eviction.go), case by case."""

from __future__ import annotations

import pytest

from kubeproc.api import errors
from kubeproc.registry.eviction import can_ignore_pdb, check, decide, matching_budgets, use_one


def pod(ready: bool = True, phase: str = "Running", deleting: bool = False, labels=None) -> dict:
    meta = {"name": "p", "labels": {"app": "db"} if labels is None else labels}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": phase, "conditions": [
        {"type": "Ready", "status": "True" if ready else "False"}]}}


def pdb(name: str = "b", allowed: int = 1, current: int = 2, desired: int = 1, generation: int = 1,
        observed: int = 1, policy: str | None = None, selector=None, disrupted: int = 0) -> dict:
    spec = {"selector": {"matchLabels": {"app": "db"}} if selector is None else selector}
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    return {"metadata": {"name": name, "generation": generation}, "spec": spec,
            "status": {"disruptionsAllowed": allowed, "currentHealthy": current, "desiredHealthy": desired,
                       "observedGeneration": observed,
                       "disruptedPods": {f"x{i}": "t" for i in range(disrupted)}}}


@pytest.mark.parametrize("p,expected", [
    (pod(phase="Succeeded"), True), (pod(phase="Failed"), True), (pod(phase="Pending"), True),
    (pod(deleting=True), True), (pod(), False), (pod(ready=False), False),
], ids=["succeeded", "failed", "pending", "terminating", "running", "running-unready"])
def test_can_ignore_pdb(p, expected):
    assert can_ignore_pdb(p) is expected


@pytest.mark.parametrize("budgets,names", [
    ([pdb()], ["b"]),
    ([pdb(selector={})], []),  # an empty selector matches nothing
    ([pdb(selector={"matchLabels": {"app": "web"}})], []),
    ([pdb("a"), pdb("b")], ["a", "b"]),
], ids=["match", "empty-selector-matches-nothing", "other-labels", "two"])
def test_matching_budgets(budgets, names):
    assert [b["metadata"]["name"] for b in matching_budgets(pod(), budgets)] == names


@pytest.mark.parametrize("p,budgets,use,code,cause", [
    (pod(), [], "", None, None),
    (pod(), [pdb(), pdb("c")], "", 500, None),
    (pod(), [pdb()], "b", None, None),
    (pod(), [pdb(allowed=0)], "b", 429, "The disruption budget b needs 1 healthy pods and has 2 currently"),
    (pod(), [pdb(generation=2, observed=1)], "b", 429, "The disruption budget b is still being processed by the server."),
    (pod(), [pdb(allowed=-1)], "b", 403, None),
    (pod(), [pdb(disrupted=2001)], "b", 403, None),
    # an unready pod: AlwaysAllow never uses the budget
    (pod(ready=False), [pdb(allowed=0, current=0, desired=1, policy="AlwaysAllow")], "", None, None),
    # IfHealthyBudget (and the default): free while the budget is healthy...
    (pod(ready=False), [pdb(allowed=0, current=1, desired=1)], "", None, None),
    (pod(ready=False), [pdb(allowed=0, current=1, desired=1, policy="IfHealthyBudget")], "", None, None),
    # ...checked like a ready pod when it is not (or wants nothing healthy)
    (pod(ready=False), [pdb(allowed=0, current=0, desired=1)], "b", 429, None),
    (pod(ready=False), [pdb(allowed=1, current=0, desired=0)], "b", None, None),
], ids=["no-budget", "two-budgets-500", "allowed", "none-left-429", "stale-status-429", "negative-403",
        "disrupted-map-full-403", "unready-always-allow", "unready-healthy-budget",
        "unready-if-healthy-budget", "unready-unhealthy-budget-429", "unready-desired-zero-uses-budget"])
def test_decide(p, budgets, use, code, cause):
    d = decide(p, budgets)
    assert d.use_budget == use
    if code is None:
        assert d.error is None
    else:
        assert d.error is not None and d.error.code == code
        if cause:
            assert d.error.to_status()["details"]["causes"][0] == {"reason": "DisruptionBudget", "message": cause}


def test_stale_budget_asks_to_retry_after_ten_seconds():
    err = check(pdb(generation=3, observed=2))
    assert isinstance(err, errors.TooManyRequests) and err.to_status()["details"]["retryAfterSeconds"] == 10


@pytest.mark.parametrize("allowed,cond", [(2, None), (1, "False")], ids=["some-left", "last-one"])
def test_use_one(allowed, cond):
    b = use_one(pdb(allowed=allowed), "p")
    st = b["status"]
    assert st["disruptionsAllowed"] == allowed - 1 and "p" in st["disruptedPods"]
    got = next((c for c in st.get("conditions") or [] if c["type"] == "DisruptionAllowed"), None)
    if cond is None:
        assert got is None
    else:
        assert got["status"] == cond and got["reason"] == "InsufficientPods" and got["lastTransitionTime"]
