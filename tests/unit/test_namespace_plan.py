"""Namespace lifecycle decisions (kubeproc.controllers.namespace.plan) against upstream
pkg/controller/namespace/deletion/namespaced_resources_deleter.go (Delete: nothing to do for an
active or already-finalized namespace, deleteAllContent, then finalizeNamespace)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.controllers.namespace.plan import FINALIZER, DeleteContent, Finalize, Plan, plan

TS = "2026-01-01T00:00:00Z"


def ns(deleting: bool = True, finalizers: list[str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "team"}
    if deleting:
        meta["deletionTimestamp"] = TS
    return {"metadata": meta, "spec": {"finalizers": [FINALIZER] if finalizers is None
                                       else finalizers}}


def obj(name: str, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "team"}
    if deleting:
        meta["deletionTimestamp"] = TS
    return {"metadata": meta}


CASES = [
    ("active-namespace-nothing", ns(deleting=False), {"pods": [obj("p")]}, Plan(())),
    ("already-finalized-nothing", ns(finalizers=[]), {"pods": [obj("p")]}, Plan(())),
    ("other-finalizer-only-nothing", ns(finalizers=["example.com/x"]), {}, Plan(())),
    ("missing-spec-nothing", {"metadata": {"name": "team", "deletionTimestamp": TS}}, {},
     Plan(())),
    ("empty-namespace-finalized", ns(), {}, Plan((Finalize("team"),))),
    ("empty-lists-count-as-empty", ns(), {"pods": [], "configmaps": []},
     Plan((Finalize("team"),))),
    ("content-deleted-sorted-by-resource-and-name", ns(),
     {"pods": [obj("b"), obj("a")], "configmaps": [obj("c")]},
     Plan((DeleteContent("configmaps", ("c",)), DeleteContent("pods", ("a", "b"))),
          waiting_on="3 object(s) still in namespace")),
    ("terminating-content-not-deleted-again-but-waited-for", ns(),
     {"pods": [obj("a", deleting=True), obj("b")]},
     Plan((DeleteContent("pods", ("b",)),), waiting_on="2 object(s) still in namespace")),
    ("only-terminating-content-waits-without-actions", ns(),
     {"pods": [obj("a", deleting=True)]},
     Plan((), waiting_on="1 object(s) still in namespace")),
    ("kubernetes-finalizer-among-others", ns(finalizers=["example.com/x", FINALIZER]), {},
     Plan((Finalize("team"),))),
]


@pytest.mark.parametrize("namespace,content,expected", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_plan(namespace: dict, content: dict, expected: Plan) -> None:
    before = copy.deepcopy((namespace, content))
    assert plan(namespace, content) == expected
    assert (namespace, content) == before  # inputs untouched
