"""managedFields of a create, memoized: objects of one shape own the same fields.

A create that sends no managedFields gives its writer every field the object sets (less the
reset fields and the metadata strip_meta drops). Those fields depend on the object only
through what strip_meta keeps, so objects that differ only in their name, uid, timestamps
(the replicas of one template, say) share one FieldsV1. The key is the object's exact JSON
text without those fields; it counts only when decoding it gives the object back (orjson
writes NaN as null, which compares differently), and only when the dropped fields are
scalars (an object there would leave owned children behind after stripping).
Outside metadata the key holds the object's shape: a scalar where the kind's zero object has
nothing is owned as a member whatever its value (typed.compare against a missing side), so
it is keyed as a placeholder; lists, and values the zero object also has, stay verbatim. So
objects that differ only in such values (Events: their message, involved object, times) share
one entry too, instead of each missing the memo (and pushing other kinds' entries out).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from kubeproc.registry.patch.fieldset import FieldSet
from kubeproc.registry.patch.managed import encode_entry
from kubeproc.registry.patch.typed_types import shared_zero_object

# metadata fields strip_meta removes (managed._STRIP), and managedFields (never compared)
_DROPPED = frozenset({"name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                      "generation", "resourceVersion", "managedFields"})
_SCALARS = (str, int, float, bool, type(None))
MAX_TEXT = 16 * 1024
SIZE = 128
_EMPTY = b""
_PLACEHOLDER = True  # any scalar: against a missing side every scalar is a member
_memo: OrderedDict[tuple[str, tuple[str, ...], bytes], bytes] = OrderedDict()


def _shape(value: dict[str, Any], zero: Any) -> dict[str, Any]:
    """`value` with every scalar that has no counterpart in `zero` (the zero object's value at
    the same path, None if it has none) replaced by the placeholder. Keys, nesting and lists
    are kept: a key the zero object lacks makes any comparison of the enclosing values differ,
    whatever the scalar under it."""
    zd = zero if type(zero) is dict else None
    out: dict[str, Any] = {}
    for k, v in value.items():
        tv = type(v)
        if tv is dict:
            out[k] = _shape(v, zd.get(k) if zd is not None else None)
        elif tv is list or (zd is not None and k in zd):
            out[k] = v
        else:
            out[k] = _PLACEHOLDER
    return out


def _key_text(new: dict[str, Any], def_name: str) -> bytes | None:
    meta = new.get("metadata")
    if not isinstance(meta, dict):
        return None
    kept: dict[str, Any] = {}
    for k, v in meta.items():
        if k in _DROPPED:
            if k != "managedFields" and type(v) not in _SCALARS:
                return None
            continue
        kept[k] = v
    zero = shared_zero_object(def_name)
    reduced = _shape({k: v for k, v in new.items() if k != "metadata"}, zero)
    reduced["metadata"] = kept
    try:
        text = orjson.dumps(reduced)
    except (orjson.JSONEncodeError, TypeError):
        return None
    if len(text) > MAX_TEXT or orjson.loads(text) != reduced:
        return None
    return text


def entries(new: dict[str, Any], def_name: str, reset_fields: tuple[str, ...], mid: str,
            api_version: str, now: str, fields_of: Callable[[], FieldSet]) -> list[dict[str, Any]]:
    """The managedFields of a create of `new` by manager `mid` at `now`: `fields_of()`'s set
    encoded as one Update entry (none if it is empty), memoized as described above."""
    text = _key_text(new, def_name)
    key = (def_name, reset_fields, text) if text is not None else None
    raw = _memo.get(key) if key is not None else None
    if raw is None:
        fields = fields_of()
        raw = _EMPTY if fields.empty() else orjson.dumps(fields.to_fields_v1())
        if key is not None:
            _memo[key] = raw
            if len(_memo) > SIZE:
                _memo.popitem(last=False)
    elif key is not None:
        _memo.move_to_end(key)
    if raw == _EMPTY:
        return []
    return [encode_entry(mid, api_version, False, {mid: now}, orjson.loads(raw))]
