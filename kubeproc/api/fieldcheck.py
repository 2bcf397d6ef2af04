"""Schema checks done while decoding a request body: unknown fields, duplicate fields, wrong types.

Mirrors what the apiserver's strict JSON decoder (sigs.k8s.io/json) reports: the paths behind
`unknown field "spec.foo"` / `duplicate field "metadata.name"` (fieldValidation=Strict/Warn), and the
encoding/json type errors (`json: cannot unmarshal string into Go struct field
ContainerPort.spec.containers.ports.containerPort of type int32`) that make a request a 400.
The schema comes from kubeproc.api.schema (the official OpenAPI definitions).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any

from kubeproc.api import quantity, schema
from kubeproc.api.jsonmemo import SubtreeMemo
from kubeproc.api.errors import Cause

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
# Go package names of definition prefixes, for "of type v1.Container"-style type names.
_GO_PACKAGES = {
    "io.k8s.apimachinery.pkg.api.resource.": "resource",
    "io.k8s.apimachinery.pkg.util.intstr.": "intstr",
    "io.k8s.apimachinery.pkg.runtime.": "runtime",
}


def _deref(node: dict[str, Any] | None) -> tuple[dict[str, Any], str | None]:
    """Follow $ref (or a one-element allOf) and return (schema, definition name)."""
    name = None
    defs = schema.definitions()
    while node:
        ref = node.get("$ref")
        if ref is None and len(node.get("allOf", [])) == 1:
            ref = node["allOf"][0].get("$ref")
        if ref is None:
            break
        name = ref.rsplit("/", 1)[-1]
        node = defs.get(name, {})
    return node or {}, name


# _deref and _free_form of schema nodes, by node. Only nodes of schema.definitions() (which
# live for the process) are looked up here; the entry holds the node, so its id stays unique.
_derefs: dict[int, tuple[Any, dict[str, Any], str | None, bool]] = {}
_NO_SCHEMA: dict[str, Any] = {}


def _deref_cached(node: dict[str, Any] | None) -> tuple[dict[str, Any], str | None, bool]:
    """(_deref(node), _free_form of the schema) for a node of the loaded definitions."""
    entry = _derefs.get(id(node))
    if entry is None or entry[0] is not node:
        if len(_derefs) >= 1 << 15:  # bounded, should the definitions ever be rebuilt
            _derefs.clear()
        s, name = _deref(node)
        entry = _derefs[id(node)] = (node, s, name, bool(s) and _free_form(s))
    return entry[1], entry[2], entry[3]


def _free_form(s: dict[str, Any]) -> bool:
    # RawExtension, FieldsV1, JSON: objects with no declared shape take anything.
    return bool(s.get("x-kubernetes-preserve-unknown-fields")) or (
        s.get("type") == "object" and "properties" not in s and "additionalProperties" not in s)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---- unknown fields ------------------------------------------------------------------------

def unknown_fields(def_name: str, obj: dict[str, Any]) -> list[str]:
    """Paths ("spec.containers[0].bogus") of fields of `obj` not declared by `def_name`.

    The caller words each as upstream's strict decoder does: `unknown field "<path>"`.
    Top-level fields other than metadata and status go through a memo (see _top_level).
    """
    props = _top_level(schema.definitions().get(def_name), obj)
    if props is None:
        return unknown_fields_uncached(def_name, obj)
    out: list[str] = []
    for k, v in obj.items():
        if k not in props:
            out.append(k)
        elif k in _UNMEMOIZED or not isinstance(v, (dict, list)):
            _walk_unknown(props[k], v, k, out)
        else:
            out.extend(_UNKNOWN_MEMO(v, (def_name, k)))
    return out


def unknown_fields_uncached(def_name: str, obj: dict[str, Any]) -> list[str]:
    """unknown_fields without the memo (the oracle its tests compare with)."""
    out: list[str] = []
    _walk_unknown(schema.definitions().get(def_name), obj, "", out)
    return out


# metadata and status differ from one write to the next: a memo would only miss
_UNMEMOIZED = frozenset({"metadata", "status"})


def _top_level(node: dict[str, Any] | None, obj: Any) -> dict[str, Any] | None:
    """The root's properties when the walks' root step is a plain struct step (kinds' roots
    are), so each top-level field can be walked on its own; else None."""
    if not isinstance(obj, dict) or not isinstance(node, dict):
        return None
    s, name, free = _deref_cached(node)
    if not s or free or name in (_QUANTITY, _INT_OR_STRING) or "additionalProperties" in s:
        return None
    props = s.get("properties")
    if not isinstance(props, dict) or not props or (s.get("type") not in (None, "object")):
        return None
    return props


def _unknown_in(value: Any, ctx: tuple[str, str]) -> list[str]:
    def_name, key = ctx
    out: list[str] = []
    props = _top_level(schema.definitions().get(def_name), {})
    assert props is not None
    _walk_unknown(props[key], value, key, out)
    return out


def _walk_unknown(node: dict[str, Any] | None, value: Any, path: str, out: list[str]) -> None:
    s, _, free = _deref_cached(node)
    if not s or free:
        return
    if isinstance(value, dict):
        props = s.get("properties")
        addl = s.get("additionalProperties")
        if props is None and addl is None:
            return
        for k, v in value.items():
            if props and k in props:
                _walk_unknown(props[k], v, _join(path, k), out)
            elif isinstance(addl, dict):
                _walk_unknown(addl, v, _join(path, k), out)
            elif addl is True:
                continue
            else:
                out.append(_join(path, k))
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        for i, item in enumerate(value):
            _walk_unknown(s["items"], item, f"{path}[{i}]", out)


# ---- duplicate fields ----------------------------------------------------------------------

class _Obj(dict):  # type: ignore[type-arg]
    """A decoded JSON object that remembers which of its keys appeared more than once."""

    dups: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj()
    obj.dups = []
    for k, v in pairs:
        if k in obj and k not in obj.dups:
            obj.dups.append(k)
        obj[k] = v
    return obj


_KEY_END = re.compile(rb'"\s*:')


def count_keys(value: Any) -> int:
    """How many object keys a decoded JSON document holds, at every depth."""
    if isinstance(value, dict):
        return len(value) + sum(count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(count_keys(v) for v in value)
    return 0


def duplicate_fields(raw_json: bytes | str, key_count: int | None = None) -> list[str]:
    """Paths ("metadata.name") of keys repeated within one JSON object, in document order.

    The caller words each as upstream does: `duplicate field "<path>"`. With `key_count`
    (`count_keys` of the same document as parsed, before any change), a quick count proves
    most bodies duplicate-free: every key ends in `"` + `:` in the raw text, so when the raw
    text has no more such endings than the parsed document has keys, no key is repeated.
    """
    if key_count is not None:
        raw = raw_json.encode() if isinstance(raw_json, str) else raw_json
        if len(_KEY_END.findall(raw)) <= key_count:
            return []
    try:
        doc = json.loads(raw_json, object_pairs_hook=_pairs)
    except (ValueError, TypeError):
        return []  # not JSON: the decoder reports that, not us
    out: list[str] = []
    _walk_dups(doc, "", out)
    return out


def _walk_dups(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, _Obj):
        out.extend(_join(path, k) for k in value.dups)
        for k, v in value.items():
            _walk_dups(v, _join(path, k), out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _walk_dups(item, f"{path}[{i}]", out)


# ---- type errors ---------------------------------------------------------------------------

def _go_type(node: dict[str, Any] | None) -> str:
    s, name = _deref(node)
    if name:
        for prefix, pkg in _GO_PACKAGES.items():
            if name.startswith(prefix):
                return f"{pkg}.{name.rsplit('.', 1)[-1]}"
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"  # io.k8s.api.core.v1.Container -> v1.Container
    t = s.get("type")
    if t == "integer":
        return s.get("format") or "int64"
    if t == "number":
        return "float64"
    if t == "boolean":
        return "bool"
    if t == "string":
        return "[]uint8" if s.get("format") == "byte" else "string"
    if t == "array":
        return "[]" + _go_type(s.get("items"))
    if t == "object" and isinstance(s.get("additionalProperties"), dict):
        return "map[string]" + _go_type(s["additionalProperties"])
    return "interface {}"


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _base64_error(s: str) -> str | None:
    # encoding/base64 StdEncoding: report the offset of the first bad input byte.
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    body = s.rstrip("=")
    for i, c in enumerate(body):
        if c not in alphabet:
            return f"illegal base64 data at input byte {i}"
    try:
        base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return f"illegal base64 data at input byte {len(s) - len(s) % 4 if len(s) % 4 else len(body)}"
    return None


class _Ctx:
    def __init__(self) -> None:
        self.causes: list[Cause] = []

    def add(self, struct: str, go_path: str, path: str, value: Any, node: dict[str, Any],
            number_text: bool, go_type: str = "") -> None:
        go_type = go_type or _go_type(node)  # worked out only for an error: most values are fine
        kind = _json_kind(value)
        if number_text:
            kind = f"number {json.dumps(value)}"
        msg = f"json: cannot unmarshal {kind} into Go struct field {struct}.{go_path} of type {go_type}"
        self.causes.append(Cause("FieldValueInvalid", msg, path))


def type_errors(def_name: str, obj: dict[str, Any]) -> list[Cause]:
    """Causes for values whose JSON type does not fit the schema (the request is a 400).

    Top-level fields other than metadata and status go through a memo (see _top_level).
    """
    root = _root_node(def_name)
    props = _top_level(root, obj)
    if props is None:
        return type_errors_uncached(def_name, obj)
    ctx = _Ctx()
    inner = _struct_name(def_name)
    for k, v in obj.items():
        if k not in props:
            continue
        if k in _UNMEMOIZED or not isinstance(v, (dict, list)):
            _walk_types(ctx, props[k], v, inner, k, k)
        else:
            ctx.causes.extend(_TYPES_MEMO(v, (def_name, k)))
    return ctx.causes


def type_errors_uncached(def_name: str, obj: dict[str, Any]) -> list[Cause]:
    """type_errors without the memo (the oracle its tests compare with)."""
    ctx = _Ctx()
    top = def_name.rsplit(".", 1)[-1]
    _walk_types(ctx, _root_node(def_name), obj, top, "", "")
    return ctx.causes


def _types_in(value: Any, key_ctx: tuple[str, str]) -> list[Cause]:
    def_name, key = key_ctx
    props = _top_level(_root_node(def_name), {})
    assert props is not None
    ctx = _Ctx()
    _walk_types(ctx, props[key], value, _struct_name(def_name), key, key)
    return ctx.causes


def _struct_name(def_name: str) -> str:
    # _walk_types' struct name for the root's fields: the root definition's short name
    _, name, _ = _deref_cached(_root_node(def_name))
    return name.rsplit(".", 1)[-1] if name else def_name.rsplit(".", 1)[-1]


_UNKNOWN_MEMO = SubtreeMemo(_unknown_in)
_TYPES_MEMO = SubtreeMemo(_types_in)


@functools.lru_cache(maxsize=None)
def _root_node(def_name: str) -> dict[str, Any]:
    # one node per kind, kept for the process (the _deref cache relies on that)
    return {"$ref": "#/definitions/" + def_name}


def _walk_types(ctx: _Ctx, node: dict[str, Any], value: Any, struct: str, go_path: str,
                path: str) -> None:
    if value is None:
        return  # null decodes as the zero value
    s, name, free = _deref_cached(node)
    if name == _QUANTITY:
        if not quantity.is_quantity(value):
            ctx.causes.append(Cause("FieldValueInvalid", quantity.QUANTITY_REGEX_MSG, path))
        return
    if name == _INT_OR_STRING:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            ctx.add(struct, go_path, path, value, node, False, "intstr.IntOrString")
        return
    if not s or free:
        return
    t = s.get("type")
    if t == "object" or "properties" in s:
        if not isinstance(value, dict):
            ctx.add(struct, go_path, path, value, node, False)
            return
        props = s.get("properties") or {}
        addl = s.get("additionalProperties")
        inner = name.rsplit(".", 1)[-1] if name else struct
        for k, v in value.items():
            if k in props:
                _walk_types(ctx, props[k], v, inner, _join(go_path, k), _join(path, k))
            elif isinstance(addl, dict):
                # map values report the map field itself, e.g. ObjectMeta.metadata.labels
                _walk_types(ctx, addl, v, struct, go_path, f"{path}[{k}]" if path else k)
        return
    if t == "array":
        if not isinstance(value, list):
            ctx.add(struct, go_path, path, value, node, False)
            return
        for i, item in enumerate(value):
            _walk_types(ctx, s.get("items") or _NO_SCHEMA, item, struct, go_path, f"{path}[{i}]")
        return
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.add(struct, go_path, path, value, node, False)
            return
        lo, hi = _INT_RANGES.get(s.get("format") or "int64", _INT_RANGES["int64"])
        if isinstance(value, float) or not lo <= value <= hi:
            ctx.add(struct, go_path, path, value, node, True)
        return
    if t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            ctx.add(struct, go_path, path, value, node, False)
        return
    if t == "boolean":
        if not isinstance(value, bool):
            ctx.add(struct, go_path, path, value, node, False)
        return
    if t == "string":
        if not isinstance(value, str):
            ctx.add(struct, go_path, path, value, node, False)
        elif s.get("format") == "byte":
            err = _base64_error(value)
            if err:
                ctx.causes.append(Cause("FieldValueInvalid", err, path))
