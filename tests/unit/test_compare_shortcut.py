"""typed.compare's equal-subtree shortcut gives the full walk's results, errors included.

An update leaves most of an object alone; compare skips subtrees that are equal (same JSON
text and equal values) and only re-checks their list items (memoized) for the SchemaError the
walk would raise. Checked against the two-sided oracle of test_patch_fastpaths over equal and
nearly equal objects, bad list items inside equal subtrees, and lookalike values.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.registry.patch import typed
from tests.unit.test_patch_fastpaths import KINDS, _check_compare, make_object

POD = "io.k8s.api.core.v1.Pod"
CASES = [(kind, seed) for kind in KINDS for seed in range(8)]


def _relabelled(obj: dict[str, Any]) -> dict[str, Any]:
    new = copy.deepcopy(obj)
    new["metadata"].setdefault("labels", {})["n"] = "1"
    return new


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_equal_and_relabelled_objects_match_oracle(kind: str, seed: int) -> None:
    def_name = KINDS[kind][0]
    obj = make_object(kind, seed)
    for _ in range(2):  # the second round hits the item-check memo
        _check_compare(obj, copy.deepcopy(obj), def_name)
        _check_compare(obj, _relabelled(obj), def_name)
        _check_compare(_relabelled(obj), obj, def_name)


def _pod(spec: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", **meta}, "spec": spec}


BAD_ITEMS = [
    ("container-without-name", _pod({"containers": [{"image": "x"}]})),
    ("container-not-an-object", _pod({"containers": ["x"]})),
    ("port-without-keys", _pod({"containers": [{"name": "c", "ports": [{"name": "http"}]}]})),
    ("nested-after-good-items", _pod({"containers": [{"name": "a"}, {"name": "b", "env": [{"value": "v"}]}]})),
    ("finalizer-null", _pod({"containers": [{"name": "c"}]}, finalizers=[None, "a"])),
    ("duplicated-items-not-walked", _pod({"containers": [{"name": "c", "env": [{"value": 1}]},
                                                         {"name": "c", "env": [{"value": 1}]}]})),
]


@pytest.mark.parametrize("obj", [c[1] for c in BAD_ITEMS], ids=[c[0] for c in BAD_ITEMS])
def test_bad_items_in_equal_subtrees_raise_as_the_walk_does(obj: dict[str, Any]) -> None:
    for _ in range(2):
        _check_compare(obj, copy.deepcopy(obj), POD)
        _check_compare(obj, _relabelled(obj), POD)
        _check_compare(_relabelled(obj), obj, POD)


def test_bad_item_in_equal_spec_raises_schema_error() -> None:
    obj = _pod({"containers": [{"image": "x"}]})
    with pytest.raises(typed.SchemaError, match="omits all key fields"):
        typed.compare(obj, _relabelled(obj), typed.root_type(POD))


LOOKALIKES = [
    ("int-vs-float", {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 1}]}]},
     {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 1.0}]}]}),
    ("int-vs-bool", {"containers": [{"name": "c", "tty": 1}]}, {"containers": [{"name": "c", "tty": True}]}),
    ("nan-vs-null", {"containers": [{"name": "c", "x": float("nan")}]},
     {"containers": [{"name": "c", "x": None}]}),
    ("same-nan", {"containers": [{"name": "c", "x": float("nan")}]},
     {"containers": [{"name": "c", "x": float("nan")}]}),
    ("key-order", {"containers": [{"name": "c", "image": "i"}], "hostname": "h"},
     {"hostname": "h", "containers": [{"image": "i", "name": "c"}]}),
    ("non-string-key", {"nodeSelector": {1: "a"}}, {"nodeSelector": {1: "a"}}),
]


@pytest.mark.parametrize("a,b", [c[1:] for c in LOOKALIKES], ids=[c[0] for c in LOOKALIKES])
def test_lookalike_values_match_oracle(a: dict[str, Any], b: dict[str, Any]) -> None:
    _check_compare(_pod(a), _pod(b), POD)
    _check_compare(_pod(b), _pod(a), POD)
