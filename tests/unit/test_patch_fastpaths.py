"""The write path's fast forms of managedFields bookkeeping give the general path's results.

Checked over varied realistic objects (pods with several containers/ports/env/volumes/resources,
deployments, statefulsets with volumeClaimTemplates, services, configmaps) and odd ones
(duplicated or keyless map-list items, wrong shapes): the one-walk typed.compare against the
original two-sided walk kept here as the oracle, the create fast path of
update_managed_fields against the general updater, and the in-place FieldSet operations,
element interning and sorting against their plain forms.
"""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeproc.registry.patch import apply, typed
from kubeproc.registry.patch.fieldset import FieldSet, PathElement, Path, canonical, sorted_elements
from kubeproc.registry.patch.managed import (
    VersionedSet, cap_update_managers, encode_managed_fields, manager_id, strip_meta)
from kubeproc.registry.patch.pathelement import _sort_key
from kubeproc.registry.patch.typed import MISSING
from kubeproc.registry.patch.typed_compare import _differ
from kubeproc.registry.patch.typed_types import _is_leaf

NOW = "2026-11-25T18:00:00Z"
KINDS = {
    "Pod": ("io.k8s.api.core.v1.Pod", "v1"),
    "Deployment": ("io.k8s.api.apps.v1.Deployment", "apps/v1"),
    "StatefulSet": ("io.k8s.api.apps.v1.StatefulSet", "apps/v1"),
    "Service": ("io.k8s.api.core.v1.Service", "v1"),
    "ConfigMap": ("io.k8s.api.core.v1.ConfigMap", "v1"),
}


# --- realistic objects ----------------------------------------------------------------------
def _container(r: random.Random, i: int, odd: bool) -> dict[str, Any]:
    c: dict[str, Any] = {"name": f"c{i}", "image": r.choice(["nginx:1.27", "redis:7", "busybox"])}
    if r.random() < 0.7:
        ports = []
        for j in range(r.randint(1, 3)):
            p: dict[str, Any] = {"containerPort": 80 + j + 10 * i}
            if r.random() < 0.5:
                p["protocol"] = r.choice(["TCP", "UDP"])
            if r.random() < 0.3:
                p["name"] = f"p{j}"
            ports.append(p)
        if odd and r.random() < 0.4:
            ports.append(dict(ports[0]))  # a duplicated key: owned whole
        if odd and r.random() < 0.2:
            ports.append({"name": "nokey"})  # no key field: a SchemaError
        c["ports"] = ports
    if r.random() < 0.6:
        c["env"] = [{"name": f"E{j}", "value": str(j)} for j in range(r.randint(0, 3))]
        if r.random() < 0.3:
            c["env"].append({"name": "POD",
                             "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})
    if r.random() < 0.7:
        c["resources"] = {k: {"cpu": r.choice(["10m", "500m", "1", 2]),
                              "memory": r.choice(["16Mi", "1Gi", "128M"])}
                          for k in ("requests", "limits") if r.random() < 0.7}
    if r.random() < 0.3:
        c["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    if r.random() < 0.2:
        c["livenessProbe"] = {"httpGet": {"path": "/", "port": r.choice([80, "http"])}}
    if odd and r.random() < 0.3:
        c["bogus"] = {"x": [1, 2]}  # undeclared: a deduced field
    if odd and r.random() < 0.2:
        c["ports"] = "80"  # not the schema's shape: an opaque leaf
    if odd and r.random() < 0.2:
        c["args"] = None
    return c


def _pod_spec(r: random.Random, odd: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [_container(r, i, odd) for i in range(r.randint(1, 3))]}
    if r.random() < 0.3:
        spec["initContainers"] = [_container(r, 9, odd)]
    if r.random() < 0.5:
        spec["volumes"] = [{"name": "data", "emptyDir": {}},
                           {"name": "cfg", "configMap": {"name": "cm"}}][:r.randint(1, 2)]
    if r.random() < 0.3:
        spec["tolerations"] = [{"key": "k", "operator": "Exists"}]
    if r.random() < 0.2:
        spec["nodeSelector"] = {}
    return spec


def _meta(r: random.Random, name: str) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "namespace": "default", "uid": "u1",
                         "creationTimestamp": NOW, "resourceVersion": "5"}
    if r.random() < 0.8:
        m["labels"] = {"app": "web"}
    if r.random() < 0.3:
        m["annotations"] = {"note": "a<b"}
    if r.random() < 0.2:
        m["finalizers"] = ["example.com/f", "example.com/g"]
    return m


def make_object(kind: str, seed: int) -> dict[str, Any]:
    r = random.Random(seed)
    odd = seed % 3 == 0
    meta = _meta(r, f"o{seed}")
    template = {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec(r, odd)}
    if kind == "Pod":
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta, "spec": _pod_spec(r, odd)}
        if r.random() < 0.3:
            obj["status"] = {"phase": "Pending",
                             "conditions": [{"type": "Ready", "status": "False"}]}
    elif kind == "Deployment":
        obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
               "spec": {"replicas": r.randint(0, 3), "selector": {"matchLabels": {"app": "web"}},
                        "template": template}, "status": {}}
    elif kind == "StatefulSet":
        obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
               "spec": {"serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                        "template": template,
                        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}}]}}
    elif kind == "Service":
        ports = [{"port": 80 + j, "targetPort": r.choice([8080, "http"]), "name": f"p{j}"}
                 for j in range(r.randint(1, 3))]
        if odd:
            ports.append(dict(ports[0]))
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta,
               "spec": {"selector": {"app": "web"}, "ports": ports, "type": "ClusterIP"}}
    else:
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta,
               "data": {f"k{j}": "v" * j for j in range(r.randint(0, 3))}}
        if odd:
            obj["binaryData"] = {"b": "aGk="}
    return obj


def mutate(obj: dict[str, Any], seed: int) -> dict[str, Any]:
    """A changed copy: fields added, removed, changed, list items added/removed/reordered."""
    r = random.Random(seed)
    o = copy.deepcopy(obj)
    meta = o["metadata"]
    if r.random() < 0.4:
        meta.setdefault("labels", {})["new"] = "x"
    if r.random() < 0.2:
        meta.pop("labels", None)
    if r.random() < 0.2:
        meta["finalizers"] = ["example.com/g"]
    spec = o.get("spec")
    if isinstance(spec, dict):
        pod_spec = spec.get("template", {}).get("spec", spec)
        containers = pod_spec.get("containers")
        if isinstance(containers, list) and containers:
            c = containers[0]
            choice = r.random()
            if choice < 0.25:
                c["image"] = "changed:2"
            elif choice < 0.4:
                c.pop("ports", None)
            elif choice < 0.55:
                containers.append({"name": "added", "image": "x", "ports": [{"containerPort": 1}]})
            elif choice < 0.7:
                containers.reverse()
            elif choice < 0.8:
                c["resources"] = {"limits": {"cpu": 1}}  # int for a string: a changed leaf
        if "replicas" in spec:
            spec["replicas"] = r.choice([spec["replicas"], 7, 1.0])
        if isinstance(spec.get("ports"), list) and r.random() < 0.5:
            spec["ports"] = spec["ports"][:1]
    if isinstance(o.get("data"), dict):
        o["data"]["zz"] = "1"
    if r.random() < 0.3:
        o["status"] = {"phase": "Running"}
    return o


CASES = [(kind, seed) for kind in KINDS for seed in range(12)]


# --- the oracle: the original compare (added, modified, removed), path by path ---------------
def oracle_compare(lhs: Any, rhs: Any, t: typed.TypeInfo) -> tuple[FieldSet, FieldSet, FieldSet]:
    added, modified, removed = FieldSet(), FieldSet(), FieldSet()
    _ocmp(lhs, rhs, t, (), added, modified, removed)
    return added, modified, removed


def _ocmp(l: Any, r: Any, t: typed.TypeInfo, path: Path, a: FieldSet, m: FieldSet,
          rm: FieldSet) -> None:
    t = typed.effective(t, r if r is not MISSING else l)
    if _is_leaf(t, l, r):
        if l is MISSING:
            a.insert(path)
        elif r is MISSING:
            rm.insert(path)
        elif canonical(l) != canonical(r):
            m.insert(path)
        return
    if t.kind == "map":
        lm = l if isinstance(l, dict) else {}
        rmap = r if isinstance(r, dict) else {}
        for key in list(lm) + [k for k in rmap if k not in lm]:
            ft, _ = typed.field_type(t, key)
            _ocmp(lm.get(key, MISSING), rmap.get(key, MISSING), ft,
                  path + (PathElement.field(key),), a, m, rm)
    else:
        _ocmp_list(l if isinstance(l, list) else [], r if isinstance(r, list) else [], t, path,
                   a, m, rm)
    if path:
        if l is MISSING:
            a.insert(path)
        elif r is MISSING:
            rm.insert(path)


def _ocmp_list(l: list[Any], r: list[Any], t: typed.TypeInfo, path: Path, a: FieldSet,
               m: FieldSet, rm: FieldSet) -> None:
    order: list[PathElement] = []
    lv: dict[PathElement, list[Any]] = {}
    rv: dict[PathElement, list[Any]] = {}
    for items, index in ((l, lv), (r, rv)):
        for item in items:
            pe = typed.item_element(t, item)
            if pe not in lv and pe not in rv:
                order.append(pe)
            index.setdefault(pe, []).append(item)
    et = typed.elem_type(t)
    for pe in order:
        ll, rl = lv.get(pe, []), rv.get(pe, [])
        p = path + (pe,)
        if len(ll) <= 1 and len(rl) <= 1:
            _ocmp(ll[0] if ll else MISSING, rl[0] if rl else MISSING, et, p, a, m, rm)
        elif len(ll) >= 2 and len(rl) >= 2:
            if canonical(ll) != canonical(rl):
                m.insert(p)
        elif len(ll) >= 2:
            if rl:
                _ocmp(MISSING, rl[0], et, p, a, m, rm)
            rm.insert(p)
        else:
            if ll:
                _ocmp(ll[0], MISSING, et, p, a, m, rm)
            a.insert(p)


def _outcome(fn: Any) -> Any:
    try:
        return fn()
    except typed.SchemaError as e:
        return ("SchemaError", str(e))


def _check_compare(lhs: Any, rhs: Any, def_name: str) -> None:
    t = typed.root_type(def_name)
    want = _outcome(lambda: oracle_compare(lhs, rhs, t))
    got = _outcome(lambda: typed.compare(lhs, rhs, t))
    if isinstance(want, tuple) and want and want[0] == "SchemaError":
        assert got == want
        return
    added, modified, removed = want
    assert got.changed == added.union(modified)
    assert got.removed == removed
    assert got.changed.to_json() == added.union(modified).to_json()
    assert got.removed.to_json() == removed.to_json()


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_compare_matches_oracle_on_create_update_and_delete(kind: str, seed: int) -> None:
    def_name = KINDS[kind][0]
    obj = make_object(kind, seed)
    new = mutate(obj, seed)
    _check_compare(typed.shared_zero_object(def_name), obj, def_name)  # a create
    _check_compare(obj, new, def_name)  # an update
    _check_compare(new, obj, def_name)  # and back
    _check_compare(obj, {}, def_name)  # everything removed


@settings(max_examples=60, deadline=None, derandomize=True)
@given(kind=st.sampled_from(sorted(KINDS)), seed=st.integers(0, 10**6),
       seed2=st.integers(0, 10**6))
def test_compare_matches_oracle_on_random_pairs(kind: str, seed: int, seed2: int) -> None:
    def_name = KINDS[kind][0]
    _check_compare(make_object(kind, seed), mutate(make_object(kind, seed2), seed), def_name)


# --- the create fast path of update_managed_fields -------------------------------------------
def general_create(new: dict[str, Any], manager: str, operation: str, def_name: str,
                   api_version: str, subresource: str, reset: list[str]) -> list[dict[str, Any]]:
    """update_managed_fields' general path for a create without managedFields."""
    managers: dict[str, VersionedSet] = {}
    times: dict[str, str] = {}
    updater = apply._Updater(typed.root_type(def_name), api_version, apply._reset_set(reset))
    updater.apply_update(typed.zero_object(def_name), apply._without_managed_fields(new),
                         managers, "current-operation")
    strip_meta(managers)
    mid = manager_id(manager, operation, api_version, subresource)
    current = managers.pop("current-operation", None)
    if current is not None:
        managers[mid] = VersionedSet(current.fields, api_version, False)
        times[mid] = NOW
    cap_update_managers(managers, times)
    return encode_managed_fields(managers, times)


@pytest.mark.parametrize("reset,subresource", [
    ([], ""), (["status"], ""), (["spec"], "status"), (["spec.template", "status.x"], ""),
], ids=["no-reset", "status-reset", "status-subresource", "dotted-resets"])
@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_create_fast_path_matches_general_path(kind: str, seed: int, reset: list[str],
                                               subresource: str) -> None:
    def_name, api_version = KINDS[kind]
    obj = make_object(kind, seed)
    try:
        want = general_create(obj, "kubectl-create", "Update", def_name, api_version,
                              subresource, reset)
    except typed.SchemaError:
        want = []  # update_managed_fields reports nothing when the object does not fit
    got = apply.update_managed_fields(None, obj, "kubectl-create", "Update", def_name, NOW,
                                      api_version, subresource=subresource, reset_fields=reset)
    assert got == want
    assert obj == make_object(kind, seed)  # the input is not touched


def test_create_fast_path_owns_what_the_object_sets() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
           "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}]}]},
           "status": {"phase": "Pending"}}
    got = apply.update_managed_fields(None, pod, "m", "Update", KINDS["Pod"][0], NOW, "v1",
                                      reset_fields=["status"])
    assert got == [{"manager": "m", "operation": "Update", "apiVersion": "v1", "time": NOW,
                    "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:labels": {".": {}, "f:a": {}}},
                        "f:spec": {"f:containers": {'k:{"name":"c"}': {
                            ".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                                ".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {
                                    ".": {}, "f:containerPort": {}}}}}}}}]


# --- FieldSet in-place operations, element interning and order -------------------------------
def _random_set(r: random.Random, depth: int = 0) -> FieldSet:
    s = FieldSet()
    names = ["a", "b", "c", "d"]
    for n in r.sample(names, r.randint(0, 4)):
        if r.random() < 0.6:
            s.members.add(PathElement.field(n))
        if depth < 3 and r.random() < 0.5:
            child = _random_set(r, depth + 1)
            if r.random() < 0.1 or not child.empty():  # sometimes an empty child node
                s.children[PathElement.field(n)] = child
    return s


@pytest.mark.parametrize("seed", range(40))
def test_discard_is_difference_in_place(seed: int) -> None:
    r = random.Random(seed)
    a, b = _random_set(r), _random_set(r)
    want, want_rec = a.difference(b), a.recursive_difference(b)
    got, got_rec = a.copy(), a.copy()
    got.discard(b)
    got_rec.discard_recursive(b)
    assert got == want and got.to_json() == want.to_json()
    assert got_rec == want_rec and got_rec.to_json() == want_rec.to_json()


@pytest.mark.parametrize("a,b,same", [
    ({"port": 1}, {"port": 1}, True),
    ({"port": 1}, {"port": 1.0}, False),
    ({"port": 1}, {"port": True}, False),
    ({"port": 0.0}, {"port": -0.0}, False),
    ({"name": "a", "port": 1}, {"port": 1, "name": "a"}, True),
], ids=["equal-ints", "int-vs-float", "int-vs-bool", "zero-vs-negative-zero", "key-order"])
def test_key_elements_keep_json_identity(a: dict[str, Any], b: dict[str, Any], same: bool) -> None:
    pa, pb = PathElement.key(a), PathElement.key(b)
    assert (pa == pb) is same
    assert pa.canon == canonical([[k, v] for k, v in sorted(a.items())])
    assert pb.serialize() == PathElement("k", pb.canon, pb.payload).serialize()


def test_path_elements_are_immutable_and_interned() -> None:
    pe = PathElement.field("spec")
    assert pe is PathElement.field("spec")
    assert hash(pe) == hash(PathElement("f", "spec", "spec"))
    with pytest.raises(AttributeError):
        pe.kind = "k"  # type: ignore[misc]


@pytest.mark.parametrize("elements", [
    [PathElement.field(n) for n in ("b", "a", "Z", "é", "a1")],
    [PathElement.field("b"), PathElement.key({"name": "x"}), PathElement.value("v"),
     PathElement.index(2), PathElement.field("a"), PathElement.value(1)],
    [PathElement.key({"port": 2}), PathElement.key({"port": 10}), PathElement.key({"name": "a"})],
], ids=["fields", "mixed-kinds", "keys"])
def test_sorted_elements_is_upstream_order(elements: list[PathElement]) -> None:
    assert sorted_elements(elements) == sorted(elements, key=_sort_key)


@pytest.mark.parametrize("seed", range(40))
def test_absorb_is_union_in_place(seed: int) -> None:
    r = random.Random(seed)
    a, b = _random_set(r), _random_set(r)
    want = a.union(b)
    got = a.copy()
    got.absorb(b)
    assert got == want and got.to_json() == want.to_json()
    b_before = b.to_json()
    got.absorb(_random_set(r))
    assert b.to_json() == b_before  # b's nodes were copied, not shared


@pytest.mark.parametrize("key", ["f:spec", 'k:{"containerPort":80,"protocol":"TCP"}',
                                 'v:"a\\u003cb"', "v:1.0", "i:3"])
def test_deserialize_cache_returns_equal_elements(key: str) -> None:
    first = PathElement.deserialize(key)
    assert PathElement.deserialize(key) == first == PathElement._deserialize(key)
    assert first.serialize() == key


@pytest.mark.parametrize("l,r", [
    (1, 1.0), (1, True), (0.0, -0.0), (float("nan"), float("nan")), (None, None), ({}, {}),
    ([], []), ({}, []), ({"a": 1, "b": [1, "x"]}, {"b": [1, "x"], "a": 1}),
    ({"a": 1}, {"a": 1, "b": None}), ([1, 2], [1, 2.0]), (["a"], ["a", "b"]),
    ({1: "x"}, {"1": "x"}), ({"a": {"b": [True]}}, {"a": {"b": [1]}}), ("é", "é"), ("a", "b"),
], ids=["int-float", "int-bool", "signed-zero", "nan", "nulls", "empty-maps", "empty-lists",
        "map-vs-list", "key-order", "extra-key", "nested-float", "longer-list", "int-key",
        "deep-bool", "unicode", "strings"])
def test_differ_is_canonical_text_inequality(l: Any, r: Any) -> None:
    assert _differ(l, r) == (canonical(l) != canonical(r))
    assert _differ(r, l) == (canonical(r) != canonical(l))
