"""The memoized subtree checks give the unmemoized results, on first use and on every hit.

type_errors / unknown_fields (per top-level field) and validate_pod_spec go through
kubeproc.api.jsonmemo; here each is compared with its `_uncached` oracle over the fieldcheck
and validation tables, varied realistic objects, and values that only differ in ways JSON text
or Python equality alone would miss (NaN vs null, 1 vs 1.0 vs true, key order).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.api import fieldcheck, jsonmemo
from kubeproc.api.validation import pods
from tests.unit.test_fieldcheck import TYPE_CASES, UNKNOWN_CASES
from tests.unit.test_patch_fastpaths import KINDS, make_object, mutate
from tests.unit.test_validation import CREATE_CASES, _variant

POD = "io.k8s.api.core.v1.Pod"


def _objects() -> list[tuple[str, str, dict[str, Any]]]:
    out = [(c[0], c[1], c[2]) for c in UNKNOWN_CASES + TYPE_CASES]
    for kind, (def_name, _) in KINDS.items():
        for seed in range(6):
            obj = make_object(kind, seed)
            out.append((f"{kind}-{seed}", def_name, obj))
            out.append((f"{kind}-{seed}-changed", def_name, mutate(obj, seed)))
    bad_spec = {"containers": [{"name": "c", "image": 3, "bogus": 1, "ports": [{"containerPort": "x"}],
                                "resources": {"limits": {"cpu": "lots"}}}], "extra": {"a": 1}}
    for i in range(3):  # the same bad spec under different metadata: memo hits
        out.append((f"bad-spec-{i}", POD, {"apiVersion": "v1", "kind": "Pod", "bogusTop": i,
                                           "metadata": {"name": f"p{i}"}, "spec": bad_spec}))
    return out


OBJECTS = _objects()


@pytest.mark.parametrize("def_name,obj", [c[1:] for c in OBJECTS], ids=[c[0] for c in OBJECTS])
def test_fieldcheck_memo_matches_uncached(def_name: str, obj: dict[str, Any]) -> None:
    before = copy.deepcopy(obj)
    for _ in range(2):  # a miss, then a hit
        assert fieldcheck.type_errors(def_name, obj) == fieldcheck.type_errors_uncached(def_name, obj)
        assert fieldcheck.unknown_fields(def_name, obj) == \
            fieldcheck.unknown_fields_uncached(def_name, obj)
    assert obj == before


def test_fieldcheck_memo_finds_errors_in_a_repeated_spec() -> None:
    spec = {"containers": [{"name": "c", "image": "x", "bogus": 1, "ports": [{"containerPort": "80"}]}]}
    for name in ("a", "b"):
        obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        assert fieldcheck.unknown_fields(POD, obj) == ["spec.containers[0].bogus"]
        assert [c.field for c in fieldcheck.type_errors(POD, obj)] == ["spec.containers[0].ports[0].containerPort"]


SPECS = [(c[0], _variant(c[1], **c[2])) for c in CREATE_CASES if c[1] == ("", "Pod")]


@pytest.mark.parametrize("obj", [s[1] for s in SPECS], ids=[s[0] for s in SPECS])
def test_pod_spec_memo_matches_uncached(obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    want = pods.validate_pod_spec_uncached(spec, "spec")
    assert pods.validate_pod_spec(spec, "spec") == want
    assert pods.validate_pod_spec(copy.deepcopy(spec), "spec") == want  # a hit
    assert pods.validate_pod_spec(spec, "spec.template.spec") == \
        pods.validate_pod_spec_uncached(spec, "spec.template.spec")  # the path is in the key


# values that JSON text alone (NaN/inf print as null) or Python == alone (1 == 1.0 == True)
# would take for each other; key order changes the text but not the findings
LOOKALIKES = [
    ("nan-vs-null", {"a": [float("nan")]}, {"a": [None]}),
    ("inf-vs-null", {"a": float("inf")}, {"a": None}),
    ("int-vs-float", {"a": 1}, {"a": 1.0}),
    ("int-vs-bool", {"a": 1}, {"a": True}),
    ("key-order", {"a": 1, "b": "x"}, {"b": "x", "a": 1}),
]


@pytest.mark.parametrize("first,second", [c[1:] for c in LOOKALIKES], ids=[c[0] for c in LOOKALIKES])
def test_memo_tells_lookalikes_apart(first: dict[str, Any], second: dict[str, Any]) -> None:
    calls: list[Any] = []

    def fn(value: Any, ctx: Any) -> list[Any]:
        calls.append(value)
        return [repr(value)]
    memo = jsonmemo.SubtreeMemo(fn)
    assert memo(first, "c") == [repr(first)]
    assert memo(second, "c") == [repr(second)]
    assert memo(first, "other") == [repr(first)]
    assert len(calls) == 3
    assert memo(second, "c") == [repr(second)]  # a hit (or, for NaN, a recomputation)
    assert memo(first, "c") == [repr(first)]


def test_memo_skips_big_and_unencodable_values() -> None:
    calls: list[Any] = []

    def fn(value: Any, ctx: Any) -> list[Any]:
        calls.append(1)
        return []
    memo = jsonmemo.SubtreeMemo(fn, size=2)
    big = {"x": "y" * (jsonmemo.MAX_TEXT + 1)}
    memo(big, "c")
    memo(big, "c")
    odd = {1: "non-string key"}
    memo(odd, "c")
    memo(odd, "c")
    assert len(calls) == 4
    for i in range(3):  # bounded: the oldest entry goes
        memo({"i": i}, "c")
    memo({"i": 0}, "c")
    assert len(calls) == 8 and len(memo._entries) == 2


def test_memo_results_are_copies() -> None:
    memo = jsonmemo.SubtreeMemo(lambda v, c: ["x"])
    first = memo({"a": 1}, "c")
    first.append("caller's own")
    assert memo({"a": 1}, "c") == ["x"]
