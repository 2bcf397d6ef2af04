"""The kvstore example's pure logic: rendezvous placement of each key on 2 members, the
re-replication plan a pod computes on a membership change, and the manifests (valid against
the 1.33 schemas, the ConfigMap carrying the program byte for byte)."""

from __future__ import annotations

import importlib.util
import itertools
import os
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
PROGRAM = os.path.join(ROOT, "kvstore", "kvstore.py")

_spec = importlib.util.spec_from_file_location("kvstore_example", PROGRAM)
assert _spec and _spec.loader
kv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kv)

FIVE = [f"10.1.0.{i}" for i in range(2, 7)]
KEYS = [f"key-{i}" for i in range(400)]


def docs(name: str) -> list[dict[str, Any]]:
    with open(os.path.join(ROOT, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


@pytest.mark.parametrize("members", [FIVE, FIVE[:3], FIVE[:2]], ids=["five", "three", "two"])
def test_every_key_gets_two_distinct_owners(members: list[str]) -> None:
    for key in KEYS:
        own = kv.owners(key, members)
        assert len(own) == 2 and len(set(own)) == 2 and set(own) <= set(members)


@pytest.mark.parametrize("members", [FIVE[:1], []], ids=["one-member", "no-member"])
def test_fewer_members_than_copies_means_fewer_owners(members: list[str]) -> None:
    assert kv.owners("k", members) == members


def test_owners_do_not_depend_on_member_order() -> None:
    for key in KEYS[:50]:
        assert kv.owners(key, FIVE) == kv.owners(key, list(reversed(FIVE)))


@pytest.mark.parametrize("gone", FIVE, ids=[f"remove-{ip}" for ip in FIVE])
def test_removing_a_member_only_moves_its_keys(gone: str) -> None:
    """HRW: a key keeps every surviving owner; only the departed member's slot is refilled."""
    rest = [m for m in FIVE if m != gone]
    for key in KEYS:
        before, after = kv.owners(key, FIVE), kv.owners(key, rest)
        if gone in before:
            assert set(before) - {gone} <= set(after)
        else:
            assert after == before


def test_pairs_are_spread_evenly() -> None:
    """Each of the 10 pairs of 5 members owns about a tenth of the keys (the Parallel 5 -> 3
    scale-down loses the pair of the two removed pods)."""
    counts = {frozenset(p): 0 for p in itertools.combinations(FIVE, 2)}
    keys = [f"k{i}" for i in range(5000)]
    for key in keys:
        counts[frozenset(kv.owners(key, FIVE))] += 1
    assert all(350 < n < 650 for n in counts.values()), counts


@pytest.mark.parametrize("me", FIVE, ids=[f"as-{ip}" for ip in FIVE])
def test_plan_sends_each_key_to_its_other_owners_and_drops_the_rest(me: str) -> None:
    pushes, drop = kv.plan_pushes(KEYS, FIVE, me)
    assert me not in pushes
    for key in KEYS:
        own = kv.owners(key, FIVE)
        sent_to = {ip for ip, keys in pushes.items() if key in keys}
        assert sent_to == set(own) - {me}
        assert (key in drop) == (me not in own)


def test_plan_after_scale_down_moves_keys_to_the_new_owner() -> None:
    me, gone = FIVE[0], FIVE[4]
    rest = FIVE[:4]
    mine = [k for k in KEYS if me in kv.owners(k, FIVE)]
    orphaned = [k for k in mine if gone in kv.owners(k, FIVE)]
    assert orphaned, "some of my keys had their other copy on the removed pod"
    pushes, drop = kv.plan_pushes(mine, rest, me)
    assert drop == [], "a surviving owner keeps its keys"
    for key in orphaned:
        (new,) = set(kv.owners(key, rest)) - {me}
        assert key in pushes[new]


def test_plan_with_no_keys_is_empty() -> None:
    assert kv.plan_pushes([], FIVE, FIVE[0]) == ({}, [])


@pytest.mark.parametrize("name", ["kvstore.yaml", "kvstore-parallel.yaml"])
def test_manifests_validate_strictly(name: str) -> None:
    for doc in docs(name):
        kubernetes_validate.validate(doc, "1.33", strict=True)
        assert "namespace" not in doc["metadata"]


def test_configmap_carries_the_program_byte_for_byte() -> None:
    (cm,) = [d for d in docs("kvstore.yaml") if d["kind"] == "ConfigMap"]
    with open(PROGRAM) as f:
        assert cm["data"]["kvstore.py"] == f.read()


@pytest.mark.parametrize("name,sts,policy", [("kvstore.yaml", "kv", "OrderedReady"),
                                             ("kvstore-parallel.yaml", "kvp", "Parallel")],
                         ids=["ordered", "parallel"])
def test_statefulset_shape(name: str, sts: str, policy: str) -> None:
    by_kind = {d["kind"]: d for d in docs(name)}
    svc, set_ = by_kind["Service"], by_kind["StatefulSet"]
    assert svc["metadata"]["name"] == sts and svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True
    assert svc["spec"]["ports"] == [{"name": "http", "port": 7000}]
    spec = set_["spec"]
    assert (spec["serviceName"], spec["replicas"], spec["podManagementPolicy"]) == (sts, 5, policy)
    (c,) = spec["template"]["spec"]["containers"]
    assert c["image"] == "python:3.12-slim" and c["command"] == ["python3", "/app/kvstore.py"]
    assert {"name": "KV_SERVICE", "value": sts} in c["env"]
    probe = c["readinessProbe"]
    assert (probe["httpGet"]["path"], probe["periodSeconds"], probe["failureThreshold"]) == ("/ready", 1, 1)
    assert spec["template"]["spec"]["volumes"][0]["configMap"]["name"] == "kvstore"
