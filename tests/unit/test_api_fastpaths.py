"""Fast forms on the decode/default/validate path give the general forms' results.

Quantity strings of the common integer+suffix forms against the Fraction parser, the caches
of quantity and admission parsing, json_deepcopy against copy.deepcopy (shared and cyclic
references, dict subclasses), and the schema-node caches of fieldcheck (errors still name
their Go types; lookups for temporary nodes do not pile up).
"""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeproc.api import admission_pod, fieldcheck, quantity
from kubeproc.api.defaults import json_deepcopy

POD = "io.k8s.api.core.v1.Pod"
SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]


# --- quantities ----------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["10m", "16Mi", "1Gi", "2", "500m", "0", "007", "3n", "5u",
                                  "1k", "2E", "1Ei", " 64Mi ", "123456789012345678901234567890"])
def test_simple_quantity_matches_fraction_parser(text: str) -> None:
    assert quantity._SIMPLE.fullmatch(text.strip())
    assert quantity._parse_str(text) == quantity._parse_general(text.strip())
    assert quantity.format_quantity(text) == quantity._format(text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(digits=st.from_regex(r"[0-9]{1,25}", fullmatch=True), suffix=st.sampled_from(SUFFIXES))
def test_simple_quantity_forms_match_fraction_parser(digits: str, suffix: str) -> None:
    text = digits + suffix
    value, fmt = quantity._parse_str.__wrapped__(text)
    assert (value, fmt) == quantity._parse_general(text)
    assert type(value) is Fraction


@pytest.mark.parametrize("text", ["1.5Gi", "+1", "-1", ".5", "1.", "1e3", "1E3", "12e-3",
                                  "1.23456789123", "0.1m"],
                         ids=lambda t: f"general-{t}")
def test_other_forms_take_the_fraction_parser(text: str) -> None:
    assert not quantity._SIMPLE.fullmatch(text)
    assert quantity.parse_quantity(text) == quantity._parse_general(text)[0]


@pytest.mark.parametrize("value", ["", "bogus", "1Qi", "1ki", "1e", "e3", "1M1", True, None, [1]],
                         ids=["empty", "word", "bad-binary", "lower-ki", "bare-e", "no-number",
                              "trailing-digit", "bool", "null", "list"])
def test_malformed_quantities_still_raise(value: Any) -> None:
    for _ in range(2):  # the second call would hit a cache, were errors cached
        assert not quantity.is_quantity(value)
        with pytest.raises(quantity.QuantityError):
            quantity.format_quantity(value)


def test_quantity_cache_keeps_types_apart() -> None:
    # 1 == 1.0 == True in Python; as quantities they differ (True is not one)
    assert quantity.format_quantity(1) == "1"
    assert quantity.format_quantity(1.5) == "1500m"
    with pytest.raises(quantity.QuantityError):
        quantity.format_quantity(True)


class _Str(str):
    pass


@pytest.mark.parametrize("value,want", [
    ("100m", Fraction(1, 10)), ("1Gi", Fraction(2**30)), (_Str("2"), Fraction(2)), (3, Fraction(3)),
    ("1ki", Fraction(0)), (None, Fraction(0)), (True, Fraction(0)),
], ids=["milli", "gibi", "str-subclass", "int", "bad-suffix-is-zero", "null-is-zero", "bool"])
def test_admission_parse_quantity_cached(value: Any, want: Fraction) -> None:
    assert admission_pod.parse_quantity(value) == want
    assert admission_pod.parse_quantity(value) == want


# --- json_deepcopy --------------------------------------------------------------------------
class _Tagged(dict):  # type: ignore[type-arg]
    tag = "t"


def _shapes() -> list[Any]:
    shared = {"name": "c", "ports": [{"containerPort": 80}]}
    cyclic: dict[str, Any] = {"a": [1, 2.5, None, True, "s"]}
    cyclic["self"] = cyclic
    return [
        {"spec": {"containers": [shared, shared]}},  # one dict twice
        cyclic,
        [1, [2, [3, {"x": ()}]], (4, 5)],
        {1: "int key", ("t",): "tuple key"},
        {"sub": _Tagged(a=1)},
        "scalar",
    ]


@pytest.mark.parametrize("value", _shapes(), ids=["shared", "cyclic", "tuples", "non-str-keys",
                                                  "dict-subclass", "scalar"])
def test_json_deepcopy_is_deepcopy(value: Any) -> None:
    got, want = json_deepcopy(value), copy.deepcopy(value)
    assert repr(got) == repr(want)
    if isinstance(value, dict) and "spec" in value:  # sharing preserved, originals not shared
        a, b = got["spec"]["containers"]
        assert a is b and a is not value["spec"]["containers"][0]
    if isinstance(value, dict) and "self" in value:
        assert got["self"] is got
    if isinstance(value, dict) and "sub" in value:
        assert type(got["sub"]) is _Tagged and got["sub"] is not value["sub"]


# --- fieldcheck caches ---------------------------------------------------------------------
@pytest.mark.parametrize("obj,want", [
    ({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "80"}]}]}},
     ("json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports."
      "containerPort of type int32", "spec.containers[0].ports[0].containerPort")),
    ({"spec": {"containers": [{"name": "c", "ports": {"a": 1}}]}},
     ("json: cannot unmarshal object into Go struct field Container.spec.containers.ports of "
      "type []v1.ContainerPort", "spec.containers[0].ports")),
    ({"spec": {"containers": [{"name": "c", "livenessProbe": {"httpGet": {"port": 1.5}}}]}},
     ("json: cannot unmarshal number into Go struct field HTTPGetAction.spec.containers."
      "livenessProbe.httpGet.port of type intstr.IntOrString",
      "spec.containers[0].livenessProbe.httpGet.port")),
    ({"metadata": {"labels": {"a": 1}}},
     ("json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
      "string", "metadata.labels[a]")),
], ids=["int-field", "array-field", "int-or-string", "map-value"])
def test_type_errors_name_go_types(obj: dict[str, Any], want: tuple[str, str]) -> None:
    for _ in range(2):  # cold and warm caches agree
        causes = fieldcheck.type_errors(POD, obj)
        assert [(c.message, c.field) for c in causes] == [want]


def test_fieldcheck_caches_do_not_grow_per_request() -> None:
    obj = {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 1}], "bogus": 1}]}}
    fieldcheck.type_errors(POD, obj)
    assert fieldcheck.unknown_fields(POD, obj) == ["spec.containers[0].bogus"]
    size = len(fieldcheck._derefs)
    for _ in range(50):
        fieldcheck.type_errors(POD, obj)
        fieldcheck.unknown_fields(POD, obj)
    assert len(fieldcheck._derefs) == size
