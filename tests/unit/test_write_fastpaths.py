"""The PATCH path's copy-saving forms give the copying forms' results.

`merge_patch_into` (patching a copy the caller owns) against `merge_patch`, and
`strategic_merge_patch(..., reuse_original=True)` against the copying call, over the merge and
strategic tables of test_patch_merge / test_patch_strategic and over varied realistic objects
with random patches (nulls, nested objects, lists, scalars over objects). Errors must match too.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from kubeproc.api import errors, jsoncodec, resources
from kubeproc.registry import patching
from kubeproc.registry.patch.merge import merge_patch, merge_patch_into
from kubeproc.registry.patch.strategic import strategic_merge_patch
from tests.unit.test_patch_fastpaths import KINDS, make_object, mutate
from tests.unit.test_patch_merge import CASES as MERGE_CASES
from tests.unit.test_patch_strategic import APPLY_CASES, ERROR_CASES


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except errors.StatusError as exc:
        return ("err", type(exc), exc.code, exc.message)


def _random_patch(r: random.Random, obj: Any, depth: int = 0) -> Any:
    """A merge/strategic patch against `obj`: deletes, replaces, adds and descends."""
    if not isinstance(obj, dict) or depth > 4:
        return r.choice([None, "x", 3, {"new": {"a": None, "b": [1, None]}}, [{"k": None}]])
    patch: dict[str, Any] = {}
    for key, value in obj.items():
        roll = r.random()
        if roll < 0.1:
            patch[key] = None
        elif roll < 0.35:
            patch[key] = _random_patch(r, value, depth + 1)
    if r.random() < 0.3:
        patch["added"] = {"x": None, "y": {"z": 1}}
    return patch


def _random_cases() -> list[tuple[str, dict[str, Any], Any]]:
    out = []
    for kind in KINDS:
        for seed in range(8):
            obj = make_object(kind, seed)
            r = random.Random(seed * 31 + len(kind))
            out.append((f"{kind}-{seed}-random", obj, _random_patch(r, obj)))
            changed = mutate(obj, seed)
            out.append((f"{kind}-{seed}-as-patch", obj, {k: v for k, v in changed.items()
                                                        if k != "apiVersion"}))
    return out


RANDOM = _random_cases()
MERGE = [(c[0], c[1], c[2]) for c in MERGE_CASES] + RANDOM


@pytest.mark.parametrize("original,patch", [c[1:] for c in MERGE], ids=[c[0] for c in MERGE])
def test_merge_patch_into_equals_merge_patch(original: dict[str, Any], patch: Any) -> None:
    before_patch = copy.deepcopy(patch)
    want = _outcome(lambda: merge_patch(original, patch))
    owned = copy.deepcopy(original)
    got = _outcome(lambda: merge_patch_into(owned, patch))
    assert got == want
    assert patch == before_patch  # the patch is never consumed
    if got[0] == "ok":
        # nothing of the patch is shared: changing the result leaves the patch alone
        _scribble(got[1])
        assert patch == before_patch


def _scribble(value: Any) -> None:
    if isinstance(value, dict):
        for v in list(value.values()):
            _scribble(v)
        value["scribbled"] = True
    elif isinstance(value, list):
        for v in value:
            _scribble(v)
        value.append("scribbled")


@pytest.mark.parametrize("patch", [[{"a": 1}], "x", 3, None, True],
                         ids=["array", "string", "number", "null", "bool"])
def test_merge_patch_into_rejects_non_object_patch_like_merge_patch(patch: Any) -> None:
    assert _outcome(lambda: merge_patch_into({"a": 1}, patch)) == \
        _outcome(lambda: merge_patch({"a": 1}, patch))


STRATEGIC = ([(c[0], c[1], c[2], c[3]) for c in APPLY_CASES]
             + [(c[0], c[1], c[2], c[3]) for c in ERROR_CASES]
             + [(name, "io.k8s.api.core.v1.Pod" if "Pod" in name else
                 {"Deployment": "io.k8s.api.apps.v1.Deployment",
                  "StatefulSet": "io.k8s.api.apps.v1.StatefulSet",
                  "Service": "io.k8s.api.core.v1.Service",
                  "ConfigMap": "io.k8s.api.core.v1.ConfigMap"}[name.split("-")[0]], o, p)
                for name, o, p in RANDOM])


@pytest.mark.parametrize("def_name,original,patch", [c[1:] for c in STRATEGIC],
                         ids=[c[0] for c in STRATEGIC])
def test_strategic_reuse_original_equals_copying_form(def_name: str, original: dict[str, Any],
                                                      patch: Any) -> None:
    before_patch = copy.deepcopy(patch)
    want = _outcome(lambda: strategic_merge_patch(original, patch, def_name))
    owned = copy.deepcopy(original)
    got = _outcome(lambda: strategic_merge_patch(owned, patch, def_name, reuse_original=True))
    assert got == want
    assert patch == before_patch


_POD = resources.by_kind("", "Pod")


@pytest.mark.parametrize("patch_type", [patching.MERGE_PATCH, patching.STRATEGIC_PATCH],
                         ids=["merge", "strategic"])
@pytest.mark.parametrize("seed", range(6))
def test_mutator_on_owned_copy_equals_patch_of_original(patch_type: str, seed: int) -> None:
    # patch_with hands the mutator a fresh decode of the stored bytes
    assert _POD is not None
    stored = jsoncodec.dumps(make_object("Pod", seed))
    r = random.Random(seed)
    patch = _random_patch(r, jsoncodec.loads(stored))
    if not isinstance(patch, dict):
        patch = {"metadata": {"labels": {"n": str(seed)}}}
    fn = patching.mutator(_POD, patch_type, json.dumps(patch).encode())
    original = jsoncodec.loads(stored)
    if patch_type == patching.MERGE_PATCH:
        want = _outcome(lambda: merge_patch(original, patch))
    else:
        want = _outcome(lambda: strategic_merge_patch(original, patch, "io.k8s.api.core.v1.Pod"))
    assert _outcome(lambda: fn(jsoncodec.loads(stored))) == want
    assert original == jsoncodec.loads(stored)
