"""The pod-template-hash: controller.ComputeHash, ported so a template hashes as on a real cluster.

Upstream (pkg/controller/controller_utils.go ComputeHash, pkg/util/hash DeepHashObject) writes the
Go value of the v1.PodTemplateSpec with go-spew's `%#v` formatter (SortKeys, DisableMethods) into
an FNV-32a hash, adds the collisionCount as 8 little-endian bytes, and encodes the decimal sum with
rand.SafeEncodeString. This module rebuilds that exact text from the JSON object, using the Go
struct layouts in `podtypes` (field order, names, types; absent JSON fields print as Go zero values).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from typing import Any

from kubeproc.api import quantity
from kubeproc.controllers.deployment.podtypes import TABLE

_BASIC_INT = {"int", "int32", "int64", "uint8", "uint32", "uint64", "intstr.Type", "resource.Scale"}
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # util/rand alphanums (no vowels, no confusable characters)
_ZERO_TIME = "{Time:(time.Time){wall:(uint64)0 ext:(int64)0 loc:(*time.Location)<nil>}}"
# resource.Quantity's unexported layout: i int64Amount, d infDecAmount, s string, Format
_SUFFIX = {"": (10, 0), "n": (10, -9), "u": (10, -6), "m": (10, -3), "k": (10, 3), "M": (10, 6),
           "G": (10, 9), "T": (10, 12), "P": (10, 15), "E": (10, 18), "Ki": (2, 10),
           "Mi": (2, 20), "Gi": (2, 30), "Ti": (2, 40), "Pi": (2, 50), "Ei": (2, 60)}


def _load() -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, str]]:
    structs: dict[str, list[tuple[str, str, str]]] = {}
    named: dict[str, str] = {}
    for entry in re.split(r"\n(?=[SN] )", TABLE.strip()):
        kind, name, *rest = entry.split()
        if kind == "N":
            named[name] = rest[0]
        else:
            structs[name] = [tuple(f.split(":", 2)) for f in rest]  # type: ignore[misc]
    return structs, named


_STRUCTS, _NAMED = _load()


def _underlying(t: str) -> str:
    while t in _NAMED:
        t = _NAMED[t]
    return t


def _split_map(t: str) -> tuple[str, str]:
    # "map[K]V" with K a plain type name
    key, _, value = t[4:].partition("]")
    return key, value


def _empty(value: Any) -> bool:
    # protobuf (how the controller receives objects) cannot tell an empty list or map from nil
    return value is None or (isinstance(value, (list, dict)) and not value)


def _go_int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def _fmt(t: str, value: Any, show_type: bool) -> str:
    """go-spew formatState.format of a value of Go type `t` (`show_type`: not ignoreNextType)."""
    prefix = f"({t})" if show_type else ""
    if t.startswith("*"):  # formatPtr
        if value is None:
            return prefix + "<nil>" if show_type else "<nil>"
        return (prefix if show_type else "<*>") + _fmt(t[1:], value, False)
    if t == "v1.Time":
        return prefix + _ZERO_TIME  # template timestamps are always the zero time
    if t == "resource.Quantity":
        return prefix + _quantity(value)
    if t == "intstr.IntOrString":
        if isinstance(value, str):
            return prefix + f"{{Type:(intstr.Type)1 IntVal:(int32)0 StrVal:(string){value}}}"
        return prefix + f"{{Type:(intstr.Type)0 IntVal:(int32){_go_int(value)} StrVal:(string)}}"
    u = _underlying(t)
    if u in _STRUCTS:
        return prefix + _struct(u, value if isinstance(value, Mapping) else {})
    if u.startswith("[]"):
        if _empty(value):
            return prefix + "<nil>"
        return prefix + "[" + " ".join(_fmt(u[2:], v, False) for v in value) + "]"
    if u.startswith("map["):
        if _empty(value):
            return prefix + "<nil>"
        key_t, value_t = _split_map(u)
        items = sorted(value.items())  # SortKeys: string keys in byte order
        return prefix + "map[" + " ".join(
            f"{_fmt(key_t, k, False)}:{_fmt(value_t, v, False)}" for k, v in items) + "]"
    if u == "string":
        return prefix + (value if isinstance(value, str) else "")
    if u == "bool":
        return prefix + ("true" if value is True else "false")
    if u in _BASIC_INT:
        return prefix + str(_go_int(value))
    raise ValueError(f"no Go layout for type {t}")


def _struct(t: str, obj: Mapping[str, Any]) -> str:
    parts = []
    for go_name, json_name, field_t in _STRUCTS[t]:
        if json_name == "-inline":
            value: Any = obj
        elif json_name.startswith("-"):
            value = None
        else:
            value = obj.get(json_name)
        parts.append(f"{go_name}:{_fmt(field_t, value, True)}")
    return "{" + " ".join(parts) + "}"


def _quantity(value: Any) -> str:
    """resource.ParseQuantity of the canonical string (the form the API server serializes)."""
    if value is None:
        return _quantity_text(0, 0, "", "")
    try:
        text = quantity.format_quantity(value)
    except ValueError:
        text = str(value)
    if text == "0":
        return _quantity_text(0, 0, "0", "DecimalSI")
    m = re.fullmatch(r"([+-]?)0*([0-9]*)(?:\.([0-9]*))?([a-zA-Z]*|[eE][+-]?[0-9]+)", text)
    if m is None:
        return _quantity_text(0, 0, "", "")
    sign, num, denom, suffix = m.group(1), m.group(2) or "0", m.group(3) or "", m.group(4)
    if suffix[:1] in ("e", "E"):
        base, exponent, fmt = 10, int(suffix[1:]), "DecimalExponent"
    else:
        base, exponent = _SUFFIX.get(suffix, (10, 0))
        fmt = "BinarySI" if base == 2 else "DecimalSI"
    mantissa, scale = 1, exponent
    if base == 2:  # quantity.go ParseQuantity fast path for binary suffixes
        scale = 0
        precision = (15 - len(num) - int(exponent * 3 / 10) - 1) if not denom else -1
        mantissa = 1 << exponent
    else:
        precision = 18 - (len(num) + len(denom))  # maxInt64Factors
    if precision >= 0:
        scale -= len(denom)
        shifted = num + denom
        result = int(shifted) * mantissa
        if scale >= -9 and result < 2 ** 63:
            result = -result if sign == "-" else result
            if base == 2:
                keep = exponent % 10 == 0 and (int(shifted) & 7) != 0
            else:
                keep = scale % 3 == 0 and not shifted.endswith("000") and shifted[0] != "0"
            return _quantity_text(result, scale, text if keep else "", fmt)
    # the inf.Dec slow path: canonical strings never need it short of 19-digit values
    return _quantity_text(0, 0, "", fmt)


def _quantity_text(value: int, scale: int, s: str, fmt: str) -> str:
    return (f"{{i:(resource.int64Amount){{value:(int64){value} scale:(resource.Scale){scale}}} "
            f"d:(resource.infDecAmount){{Dec:(*inf.Dec)<nil>}} s:(string){s} "
            f"Format:(resource.Format){fmt}}}")


def spew_template(template: Mapping[str, Any]) -> str:
    """The text DeepHashObject writes for a v1.PodTemplateSpec value."""
    return _fmt("v1.PodTemplateSpec", template, True)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """util/rand SafeEncodeString."""
    return "".join(_SAFE[b % len(_SAFE)] for b in s.encode())


def compute_hash(template: Mapping[str, Any], collision_count: int | None) -> str:
    """controller_utils.go ComputeHash: the pod-template-hash label value."""
    data = spew_template(template).encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF) + b"\x00" * 4
    return safe_encode(str(fnv32a(data)))
