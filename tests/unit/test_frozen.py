"""kubeproc/api/frozen.py: deeply read-only dict/list for shared watch objects. Every mutating
method raises the read-only TypeError; reads, equality, JSON encoding (json and orjson) work as
for plain containers; copies (dict(), list(), copy.copy, copy.deepcopy, json_deepcopy) are plain.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Callable

import orjson
import pytest

from kubeproc.api import frozen, jsoncodec
from kubeproc.api.defaults import json_deepcopy
from kubeproc.api.frozen import FrozenDict, FrozenList, freeze, thaw

SAMPLE: dict[str, Any] = {"metadata": {"name": "p", "labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "ports": [{"port": 80}]}]},
                          "status": None, "n": 1.5, "ok": True}


def sample() -> Any:
    return freeze(SAMPLE)


DICT_MUTATIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("setitem", lambda d: d.__setitem__("x", 1)),
    ("setitem-existing", lambda d: d.__setitem__("n", 2)),
    ("delitem", lambda d: d.__delitem__("n")),
    ("setdefault", lambda d: d.setdefault("x", {})),
    ("setdefault-existing", lambda d: d.setdefault("metadata", {})),
    ("pop", lambda d: d.pop("n")),
    ("pop-default", lambda d: d.pop("absent", None)),
    ("popitem", lambda d: d.popitem()),
    ("update", lambda d: d.update({"x": 1})),
    ("update-kwargs", lambda d: d.update(x=1)),
    ("clear", lambda d: d.clear()),
    ("ior", lambda d: d.__ior__({"x": 1})),
]

LIST_MUTATIONS: list[tuple[str, Callable[[Any], Any]]] = [
    ("append", lambda lst: lst.append(1)),
    ("extend", lambda lst: lst.extend([1])),
    ("insert", lambda lst: lst.insert(0, 1)),
    ("remove", lambda lst: lst.remove(lst[0])),
    ("sort", lambda lst: lst.sort(key=str)),
    ("reverse", lambda lst: lst.reverse()),
    ("iadd", lambda lst: lst.__iadd__([1])),
    ("imul", lambda lst: lst.__imul__(2)),
    ("setitem", lambda lst: lst.__setitem__(0, 1)),
    ("setitem-slice", lambda lst: lst.__setitem__(slice(0, 1), [1])),
    ("delitem", lambda lst: lst.__delitem__(0)),
    ("delitem-slice", lambda lst: lst.__delitem__(slice(0, 1))),
    ("pop", lambda lst: lst.pop()),
    ("clear", lambda lst: lst.clear()),
]


@pytest.mark.parametrize("mutate", [m for _, m in DICT_MUTATIONS],
                         ids=[n for n, _ in DICT_MUTATIONS])
@pytest.mark.parametrize("where", ["top", "nested", "in-list"])
def test_every_dict_mutation_raises(where: str, mutate: Callable[[Any], Any]) -> None:
    obj = sample()
    target = {"top": obj, "nested": obj["metadata"],
              "in-list": obj["spec"]["containers"][0]}[where]
    if "n" not in target:
        dict.__init__(target, n=1)  # give every target the key the mutations use (test setup)
    before = thaw(target)
    with pytest.raises(TypeError, match="shared watch object is read-only: copy it first"):
        mutate(target)
    assert target == before


@pytest.mark.parametrize("mutate", [m for _, m in LIST_MUTATIONS],
                         ids=[n for n, _ in LIST_MUTATIONS])
def test_every_list_mutation_raises(mutate: Callable[[Any], Any]) -> None:
    obj = sample()
    lst = obj["spec"]["containers"]
    with pytest.raises(TypeError, match="read-only: copy it first"):
        mutate(lst)
    assert lst == SAMPLE["spec"]["containers"]


def test_augmented_assignment_through_subscript_raises() -> None:
    obj = sample()
    with pytest.raises(TypeError, match="read-only"):
        obj["spec"]["containers"] += [{}]
    assert len(obj["spec"]["containers"]) == 1


@pytest.mark.parametrize("read,expected", [
    (lambda o: o["metadata"]["labels"]["app"], "web"),
    (lambda o: o.get("absent", 7), 7),
    (lambda o: sorted(o.keys()), ["metadata", "n", "ok", "spec", "status"]),
    (lambda o: "spec" in o, True),
    (lambda o: len(o["spec"]["containers"]), 1),
    (lambda o: o["spec"]["containers"][0]["ports"][-1]["port"], 80),
    (lambda o: [c["name"] for c in o["spec"]["containers"]], ["c"]),
    (lambda o: isinstance(o, dict) and isinstance(o["spec"]["containers"], list), True),
    (lambda o: o == SAMPLE and SAMPLE == o, True),
    (lambda o: o["spec"]["containers"][0:1] == SAMPLE["spec"]["containers"], True),
], ids=["getitem", "get", "keys", "contains", "len", "index", "iterate", "isinstance",
        "equality", "slice"])
def test_reads_behave_like_plain_containers(read: Callable[[Any], Any], expected: Any) -> None:
    assert read(sample()) == expected


@pytest.mark.parametrize("encode", [
    lambda o: json.loads(json.dumps(o)),
    lambda o: orjson.loads(orjson.dumps(o)),
    lambda o: jsoncodec.loads(jsoncodec.dumps(o)),
], ids=["json", "orjson", "jsoncodec"])
def test_encodes_as_plain_json(encode: Callable[[Any], Any]) -> None:
    assert encode(sample()) == SAMPLE


def test_encoding_is_byte_identical_to_plain() -> None:
    assert orjson.dumps(sample()) == orjson.dumps(SAMPLE)
    assert json.dumps(sample()) == json.dumps(SAMPLE)


def _plain_deep(value: Any) -> bool:
    if isinstance(value, dict):
        return type(value) is dict and all(_plain_deep(v) for v in value.values())
    if isinstance(value, list):
        return type(value) is list and all(_plain_deep(v) for v in value)
    return True


@pytest.mark.parametrize("deep_copy", [copy.deepcopy, json_deepcopy, thaw],
                         ids=["copy.deepcopy", "json_deepcopy", "thaw"])
def test_deep_copies_are_plain_and_mutable(deep_copy: Callable[[Any], Any]) -> None:
    obj = sample()
    out = deep_copy(obj)
    assert out == SAMPLE and _plain_deep(out)
    out["metadata"]["labels"]["app"] = "x"
    out["spec"]["containers"].append({})
    assert obj["metadata"]["labels"]["app"] == "web" and len(obj["spec"]["containers"]) == 1


def test_deepcopy_keeps_shared_references_shared() -> None:
    inner = freeze({"a": 1})
    outer = FrozenList()
    list.extend(outer, [inner, inner])
    out = copy.deepcopy(outer)
    assert out[0] is out[1] and type(out[0]) is dict


@pytest.mark.parametrize("shallow", [dict, copy.copy, lambda d: d.copy(), lambda d: d | {}],
                         ids=["dict()", "copy.copy", "method-copy", "or"])
def test_shallow_dict_copies_are_plain(shallow: Callable[[Any], Any]) -> None:
    obj = sample()
    out = shallow(obj)
    assert type(out) is dict and out == SAMPLE
    out["x"] = 1  # the copy's top level is mutable ...
    assert "x" not in obj
    with pytest.raises(TypeError):  # ... its values are still the shared ones
        out["metadata"]["name"] = "q"


@pytest.mark.parametrize("shallow", [list, copy.copy, lambda lst: lst[:], lambda lst: lst + []],
                         ids=["list()", "copy.copy", "slice", "add"])
def test_shallow_list_copies_are_plain(shallow: Callable[[Any], Any]) -> None:
    lst = sample()["spec"]["containers"]
    out = shallow(lst)
    assert type(out) is list and out == SAMPLE["spec"]["containers"]
    out.append(1)
    assert len(lst) == 1


def test_freeze_does_not_touch_its_input() -> None:
    src = copy.deepcopy(SAMPLE)
    out = freeze(src)
    assert type(out) is FrozenDict and type(out["spec"]["containers"]) is FrozenList
    assert out is not src and type(src["metadata"]) is dict
    src["metadata"]["name"] = "changed"
    assert out["metadata"]["name"] == "p"


@pytest.mark.parametrize("value,expected", [("1", True), ("0", False), ("", False), (None, False)],
                         ids=["on", "zero", "empty", "unset"])
def test_checking_follows_the_environment(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                          expected: bool) -> None:
    if value is None:
        monkeypatch.delenv(frozen.CHECK_ENV, raising=False)
    else:
        monkeypatch.setenv(frozen.CHECK_ENV, value)
    assert frozen.checking() is expected
