"""managedFields work reused across writes gives the results of the uncached paths.

The create memo keyed by an object's shape (registry/patch/created.py: scalars the kind's zero
object lacks are keyed as placeholders), and the update path keeping the encoding of managers
a write leaves untouched (managed.VersionedSet.source, _Updater keeping unchanged sets).
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from kubeproc.registry.patch import apply, created, managed, typed
from tests.unit.test_patch_fastpaths import KINDS, NOW, general_create, make_object, mutate

EVENT = ("io.k8s.api.core.v1.Event", "v1")


def _rescalar(value: Any, r: random.Random) -> Any:
    """`value` with the scalars of its dicts (not of its lists) changed: same shape."""
    if isinstance(value, dict):
        return {k: (v if k == "metadata" else _rescalar(v, r)) for k, v in value.items()}
    if isinstance(value, list):
        return value
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + r.randint(1, 9)
    if isinstance(value, str):
        return value + str(r.randint(0, 99))
    return value


def _want(obj: dict[str, Any], def_name: str, api_version: str) -> Any:
    try:
        return general_create(obj, "m", "Update", def_name, api_version, "", [])
    except typed.SchemaError:
        return []


CASES = [(kind, seed) for kind in KINDS for seed in range(8)]


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_create_memo_by_shape_matches_general_path(kind: str, seed: int) -> None:
    def_name, api_version = KINDS[kind]
    r = random.Random(seed)
    base = make_object(kind, seed)
    for obj in (base, _rescalar(base, r), _rescalar(base, r), base):
        got = apply.update_managed_fields(None, obj, "m", "Update", def_name, NOW, api_version)
        assert got == _want(obj, def_name, api_version)


def event(i: int, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"p{i}.{i:x}", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": f"p{i}",
                               "uid": f"uid-{i}", "apiVersion": "v1", "resourceVersion": str(i)},
            "reason": "Scheduled", "message": f"Successfully assigned default/p{i} to n1",
            "firstTimestamp": NOW, "lastTimestamp": NOW, "count": i + 1, "type": "Normal",
            "source": {"component": "default-scheduler"}, "reportingComponent": "default-scheduler",
            "reportingInstance": "", "eventTime": None, **extra}


def test_events_share_one_create_memo_entry() -> None:
    created._memo.clear()
    for i in range(20):
        ev = event(i)
        assert apply.update_managed_fields(None, ev, "m", "Update", EVENT[0], NOW, EVENT[1]) == \
            _want(ev, *EVENT)
    assert len(created._memo) == 1


SHAPES = [
    ("extra-field", event(1, action="Binding")),
    ("empty-source", event(1, source={})),
    ("related-object", event(1, related={"kind": "Node", "name": "n1"})),
    ("null-message", event(1, message=None)),
    ("series-with-list-free-struct", event(1, series={"count": 2, "lastObservedTime": NOW})),
]


@pytest.mark.parametrize("ev", [c[1] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_events_of_other_shapes_are_not_conflated(ev: dict[str, Any]) -> None:
    plain = event(2)
    for obj in (plain, ev, plain, ev):
        assert apply.update_managed_fields(None, obj, "m", "Update", EVENT[0], NOW, EVENT[1]) == \
            _want(obj, *EVENT)


def test_list_values_stay_in_the_key() -> None:
    def_name, api_version = KINDS["Pod"]
    a = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
         "spec": {"containers": [{"name": "c1", "image": "i"}]}}
    b = copy.deepcopy(a)
    b["spec"]["containers"][0]["name"] = "c2"  # the list key: another path
    ga = apply.update_managed_fields(None, a, "m", "Update", def_name, NOW, api_version)
    gb = apply.update_managed_fields(None, b, "m", "Update", def_name, NOW, api_version)
    assert ga == _want(a, def_name, api_version) and gb == _want(b, def_name, api_version)
    assert 'name\\":\\"c1' in json.dumps(ga) and 'name\\":\\"c2' in json.dumps(gb)


# --- the update path: untouched managers keep their encoding ---------------------------------
def _uncached_update(old: dict[str, Any], new: dict[str, Any], def_name: str, api_version: str,
                     subresource: str, reset: list[str]) -> Any:
    managed._encoded.clear()
    managed._decoded.clear()
    # without a source, every manager is encoded from its set
    managers, times = managed.decode_managed_fields(managed.managed_of(old))
    for mid, vs in list(managers.items()):
        managers[mid] = managed.VersionedSet(vs.fields, vs.api_version, vs.applied)
    return apply.update_managed_fields(old, new, "kubelet", "Update", def_name, NOW, api_version,
                                       subresource=subresource, reset_fields=reset)


UPDATE_CASES = [(kind, seed) for kind in ("Pod", "Deployment", "StatefulSet") for seed in range(6)]


@pytest.mark.parametrize("kind,seed", UPDATE_CASES, ids=[f"{k}-{s}" for k, s in UPDATE_CASES])
def test_update_reusing_encodings_matches_a_cold_update(kind: str, seed: int) -> None:
    def_name, api_version = KINDS[kind]
    old = make_object(kind, seed)
    try:
        old["metadata"]["managedFields"] = general_create(old, "creator", "Update", def_name,
                                                          api_version, "", [])
    except typed.SchemaError:
        pytest.skip("the generated object does not fit its schema")
    new = mutate(copy.deepcopy(old), seed)
    new["metadata"]["managedFields"] = old["metadata"]["managedFields"]
    for sub, reset in (("", ["status"]), ("status", ["spec"])):
        cold = _uncached_update(old, new, def_name, api_version, sub, reset)
        for _ in range(2):  # warm: the creator's untouched entry comes from the memo
            assert apply.update_managed_fields(old, new, "kubelet", "Update", def_name, NOW,
                                               api_version, subresource=sub,
                                               reset_fields=reset) == cold


def test_a_clients_fieldsv1_is_re_encoded_canonically() -> None:
    def_name, api_version = KINDS["Pod"]
    old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u", "managedFields": [
        {"manager": "client", "operation": "Update", "apiVersion": "v1", "time": NOW,
         "fieldsType": "FieldsV1",
         # keys out of upstream's order
         "fieldsV1": {"f:spec": {"f:restartPolicy": {}, "f:dnsPolicy": {}},
                      "f:metadata": {"f:labels": {"f:b": {}, "f:a": {}, ".": {}}}}}],
        "labels": {"a": "1", "b": "2"}},
        "spec": {"dnsPolicy": "ClusterFirst", "restartPolicy": "Always"}}
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running"}
    managed._encoded.clear()
    got = apply.update_managed_fields(old, new, "kubelet", "Update", def_name, NOW, api_version,
                                      subresource="status", reset_fields=["spec"])
    again = apply.update_managed_fields(old, new, "kubelet", "Update", def_name, NOW, api_version,
                                        subresource="status", reset_fields=["spec"])
    client = next(e for e in got if e["manager"] == "client")
    assert list(client["fieldsV1"]) == ["f:metadata", "f:spec"]
    assert list(client["fieldsV1"]["f:spec"]) == ["f:dnsPolicy", "f:restartPolicy"]
    assert list(client["fieldsV1"]["f:metadata"]["f:labels"]) == [".", "f:a", "f:b"]
    assert again == got
    assert len(managed._encoded) == 1  # the client's untouched entry: encoded once, then reused
    client["fieldsV1"]["scribbled"] = {}  # results are the caller's own
    assert "scribbled" not in next(e for e in apply.update_managed_fields(
        old, new, "kubelet", "Update", def_name, NOW, api_version, subresource="status",
        reset_fields=["spec"]) if e["manager"] == "client")["fieldsV1"]


def test_updater_keeps_the_sets_a_write_does_not_touch() -> None:
    def_name, api_version = KINDS["Pod"]
    old = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u"},
           "spec": {"restartPolicy": "Always"}}
    managers, _ = managed.decode_managed_fields(general_create(old, "creator", "Update", def_name,
                                                               api_version, "", []))
    before = dict(managers)
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running"}
    updater = apply._Updater(typed.root_type(def_name), api_version, apply._reset_set(["spec"]))
    updater.apply_update(old, new, managers, "kubelet-op")
    kept = [mid for mid in before if managers.get(mid) is before[mid]]
    assert kept == list(before)  # the creator lost nothing: the very same entry
    new2 = copy.deepcopy(old)
    new2["spec"].pop("restartPolicy")
    managers2 = dict(before)
    apply._Updater(typed.root_type(def_name), api_version, apply._reset_set([])).apply_update(
        old, new2, managers2, "kubelet-op")
    assert all(managers2.get(mid) is not before[mid] for mid in before)  # it lost a field
