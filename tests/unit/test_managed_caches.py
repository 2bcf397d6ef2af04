"""managedFields bookkeeping caches give the uncached results and never share state.

manager_id (cached for string arguments only), the FieldsV1 decode memo (callers get their
own copies) and the identifier parse used by encoding, over the managedFields of varied
objects and lookalike arguments.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeproc.registry.patch import apply, created, managed, typed
from kubeproc.registry.patch.fieldset import FieldSet, PathElement
from tests.unit.test_patch_fastpaths import KINDS, NOW as FAST_NOW, general_create, make_object

NOW = "2026-11-25T18:00:00Z"


def _uncached_id(manager: Any, operation: Any, api_version: Any = "", subresource: Any = "") -> str:
    return managed._manager_id(manager, operation, api_version, subresource)


ID_ARGS = [
    ("plain", ("kubectl", "Update", "v1", "")),
    ("apply-drops-version", ("kubectl", "Apply", "v1", "")),
    ("subresource", ("kubelet", "Update", "v1", "status")),
    ("unicode", ("ménager", "Update", "apps/v1", "")),
    ("int-manager", (1, "Update", "v1", "")),
    ("bool-manager", (True, "Update", "v1", "")),  # equal to 1 as a key, not as JSON
    ("none-version", ("m", "Update", None, "")),
]


@pytest.mark.parametrize("args", [c[1] for c in ID_ARGS], ids=[c[0] for c in ID_ARGS])
def test_manager_id_cached_equals_uncached(args: tuple[Any, ...]) -> None:
    want = _uncached_id(*args)
    for _ in range(2):
        assert managed.manager_id(*args) == want


def test_manager_id_tells_one_from_true() -> None:
    assert managed.manager_id(1, "Update", "v1") == '{"manager":1,"operation":"Update","apiVersion":"v1"}'
    assert managed.manager_id(True, "Update", "v1") == '{"manager":true,"operation":"Update","apiVersion":"v1"}'


def _entries() -> list[tuple[str, list[dict[str, Any]]]]:
    out = []
    for kind, (def_name, api_version) in KINDS.items():
        for seed in range(4):
            obj = make_object(kind, seed)
            try:
                entries = general_create(obj, "m", "Update", def_name, api_version, "", [])
            except typed.SchemaError:
                continue
            out.append((f"{kind}-{seed}", entries))
    out.append(("odd-fields", [{"manager": "a", "operation": "Update", "fieldsType": "FieldsV1",
                                "fieldsV1": {"f:metadata": {"f:labels": None, "x:unknown": {}},
                                             "f:spec": {".": {}, "f:x": 3}}}]))
    return out


ENTRIES = _entries()


@pytest.mark.parametrize("entries", [c[1] for c in ENTRIES], ids=[c[0] for c in ENTRIES])
def test_decode_memo_equals_plain_decode_and_hands_out_copies(entries: list[dict[str, Any]]) -> None:
    assert entries
    for e in entries:
        want = FieldSet.from_fields_v1(e["fieldsV1"])
        first = managed._fields_of(e["fieldsV1"])
        assert first == want and first.to_json() == want.to_json()
        first.members.add(PathElement.field("scribbled"))  # the caller's own copy
        second = managed._fields_of(e["fieldsV1"])
        assert second == want and second is not first
    managers, times = managed.decode_managed_fields(entries)
    plain = {mid: managed.VersionedSet(FieldSet.from_fields_v1(e["fieldsV1"]), vs.api_version, vs.applied)
             for (mid, vs), e in zip(managers.items(), entries)}
    assert managed.encode_managed_fields(managers, times) == managed.encode_managed_fields(plain, times)


def test_decode_memo_keeps_raising_on_bad_entries() -> None:
    for _ in range(2):
        with pytest.raises(ValueError):
            managed.decode_managed_fields([{"manager": "a", "fieldsV1": {"k:notjson": {}}}])


def test_identifier_parse_matches_json() -> None:
    for args in (a for _, a in ID_ARGS):
        mid = managed.manager_id(*args)
        assert managed._ident(mid) == json.loads(mid)


def test_decode_cases_are_many() -> None:
    assert len(ENTRIES) > 15


# --- the create memo (registry/patch/created.py) ---------------------------------------------
RESETS = [([], ""), (["status"], ""), (["spec"], "status")]
CREATE_CASES = [(kind, seed, i) for kind in KINDS for seed in range(6) for i in range(len(RESETS))]


def _renamed(obj: dict[str, Any], n: int) -> dict[str, Any]:
    """The same object under another name/uid/timestamps: the memo's hits."""
    o = json.loads(json.dumps(obj))
    o["metadata"].update(name=f"other-{n}", uid=f"uid-{n}", namespace=f"ns{n}",
                         creationTimestamp=f"2026-01-0{n + 1}T00:00:00Z", resourceVersion=str(n),
                         generation=n)
    if n % 2:
        o["metadata"].pop("namespace")
        o["metadata"]["managedFields"] = []
    return o


def _want(obj: dict[str, Any], def_name: str, api_version: str, sub: str, reset: list[str]) -> Any:
    try:
        return general_create(obj, "kubectl-create", "Update", def_name, api_version, sub, reset)
    except typed.SchemaError:
        return []


@pytest.mark.parametrize("kind,seed,ri", CREATE_CASES, ids=[f"{k}-{s}-{r}" for k, s, r in CREATE_CASES])
def test_create_memo_matches_general_path_on_hits(kind: str, seed: int, ri: int) -> None:
    def_name, api_version = KINDS[kind]
    reset, sub = RESETS[ri]
    for n in range(3):
        obj = make_object(kind, seed) if n == 0 else _renamed(make_object(kind, seed), n)
        got = apply.update_managed_fields(None, obj, "kubectl-create", "Update", def_name, FAST_NOW,
                                          api_version, subresource=sub, reset_fields=reset)
        assert got == _want(obj, def_name, api_version, sub, reset)
        got[0:0] = [{"scribbled": True}] if got else []  # results are the caller's own
        if got:
            got[1]["fieldsV1"]["scribbled"] = {}


POD = ("io.k8s.api.core.v1.Pod", "v1")
ODD = [
    ("object-in-dropped-field", {"metadata": {"name": "p", "clusterName": {"a": {"b": 1}}}},
     {"metadata": {"name": "p", "clusterName": {"c": 1}}}),
    ("nan-vs-null-label", {"metadata": {"name": "p", "annotations": {"a": float("nan")}}},
     {"metadata": {"name": "q", "annotations": {"a": None}}}),
    ("int-vs-float", {"metadata": {"name": "p"}, "spec": {"priority": 1}},
     {"metadata": {"name": "q"}, "spec": {"priority": 1.0}}),
    ("no-metadata-object", {"metadata": "x"}, {"metadata": "y"}),
]


@pytest.mark.parametrize("a,b", [c[1:] for c in ODD], ids=[c[0] for c in ODD])
def test_create_memo_tells_lookalikes_apart(a: dict[str, Any], b: dict[str, Any]) -> None:
    def_name, api_version = POD
    for obj in (a, b, a, b):
        obj = {"apiVersion": "v1", "kind": "Pod", **obj}
        got = apply.update_managed_fields(None, obj, "m", "Update", def_name, FAST_NOW, api_version)
        assert got == _want_plain(obj)


def _want_plain(obj: dict[str, Any]) -> Any:
    try:
        return general_create(obj, "m", "Update", POD[0], POD[1], "", [])
    except typed.SchemaError:
        return []


def test_create_memo_is_bounded() -> None:
    for i in range(created.SIZE + 5):
        obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {f"k{i}": "v"}}
        apply.update_managed_fields(None, obj, "m", "Update", "io.k8s.api.core.v1.ConfigMap", FAST_NOW, "v1")
    assert len(created._memo) <= created.SIZE
