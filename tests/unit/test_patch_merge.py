"""JSON merge patch (RFC 7386, evanphx/json-patch flavour) as applied by the apiserver."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.api import errors
from kubeproc.registry.patch.merge import merge_patch

CASES: list[tuple[str, dict[str, Any], Any, dict[str, Any]]] = [
    ("adds-field", {"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
    ("replaces-scalar", {"a": 1}, {"a": "x"}, {"a": "x"}),
    ("null-deletes", {"a": 1, "b": 2}, {"a": None}, {"b": 2}),
    ("null-for-missing-is-noop", {"a": 1}, {"z": None}, {"a": 1}),
    ("objects-merge-recursively",
     {"metadata": {"labels": {"app": "web", "tier": "fe"}, "name": "n"}},
     {"metadata": {"labels": {"tier": None, "env": "prod"}}},
     {"metadata": {"labels": {"app": "web", "env": "prod"}, "name": "n"}}),
    ("lists-are-replaced",
     {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}},
     {"spec": {"containers": [{"name": "a", "image": "y"}]}},
     {"spec": {"containers": [{"name": "a", "image": "y"}]}}),
    ("empty-patch-is-identity", {"a": {"b": [1, 2]}}, {}, {"a": {"b": [1, 2]}}),
    ("object-replaced-by-scalar", {"a": {"b": 1}}, {"a": 5}, {"a": 5}),
    ("scalar-replaced-by-object-prunes-nulls", {"a": 5}, {"a": {"b": 1, "c": None}}, {"a": {"b": 1}}),
    ("new-subtree-prunes-nested-nulls", {}, {"a": {"b": {"c": None, "d": 1}}}, {"a": {"b": {"d": 1}}}),
    ("null-target-treated-as-missing", {"a": None}, {"a": {"x": None, "y": 1}}, {"a": {"y": 1}}),
    ("new-list-prunes-nulls-in-its-objects-keeps-null-items", {},
     {"a": [{"x": None, "y": 1}, None]}, {"a": [{"y": 1}, None]}),
    ("list-over-object-kept-verbatim", {"a": {"k": 1}}, {"a": [{"x": None}]}, {"a": [{"x": None}]}),
    ("dollar-keys-are-plain-fields", {"a": [1]}, {"$patch": "replace"}, {"a": [1], "$patch": "replace"}),
]


@pytest.mark.parametrize("original,patch,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_merge_patch(original: dict[str, Any], patch: Any, expected: dict[str, Any]) -> None:
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    assert merge_patch(original, patch) == expected
    assert original == before_o and patch == before_p  # inputs untouched


def test_result_shares_no_structure_with_inputs() -> None:
    patch = {"spec": {"template": {"labels": {"a": "b"}}}}
    out = merge_patch({}, patch)
    out["spec"]["template"]["labels"]["a"] = "changed"
    assert patch["spec"]["template"]["labels"]["a"] == "b"


@pytest.mark.parametrize("patch", [[{"a": 1}], "x", 3, None, True],
                         ids=["list", "string", "number", "null", "bool"])
def test_non_object_patch_is_bad_request(patch: Any) -> None:
    with pytest.raises(errors.BadRequest) as exc:
        merge_patch({"a": 1}, patch)
    assert exc.value.code == 400
    assert exc.value.message == "Invalid JSON Patch"
