"""The official Kubernetes object schemas, loaded from the kubernetes-validate package.

That package ships the upstream OpenAPI definitions (converted to JSON schema) per release;
we load one release lazily and normalise it back to OpenAPI form: refs become
`#/definitions/<name>`, nullable type lists become one type, IntOrString and Quantity take
their upstream OpenAPI shapes. OpenAPI documents, field validation and strategic merge
metadata are all derived from here, never written by hand.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from typing import Any

# The Kubernetes release whose API kubeproc serves (also reported by /version).
KUBE_MAJOR = "1"
KUBE_MINOR = "33"

_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"


def _schema_dir() -> str:
    import kubernetes_validate  # the only importer of the package

    base = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    return os.path.join(base, f"v{KUBE_MAJOR}.{KUBE_MINOR}.0-local")


def _normalise(node: Any, ref_prefix: str) -> Any:
    if isinstance(node, list):
        return [_normalise(n, ref_prefix) for n in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" and isinstance(value, str):
            out[key] = ref_prefix + value.rsplit("/", 1)[-1]
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            out[key] = types[0] if len(types) == 1 else types
        else:
            out[key] = _normalise(value, ref_prefix)
    return out


def definitions(ref_prefix: str = "#/definitions/") -> dict[str, dict[str, Any]]:
    """All definitions by name, refs rewritten to `ref_prefix`. Treat as read-only."""
    return _definitions(ref_prefix)


@functools.lru_cache(maxsize=2)
def _definitions(ref_prefix: str) -> dict[str, dict[str, Any]]:
    with open(os.path.join(_schema_dir(), "_definitions.json"), encoding="utf-8") as f:
        raw = json.load(f)["$defs"]
    defs = {name: _normalise(schema, ref_prefix) for name, schema in raw.items()}
    defs[_INT_OR_STRING] = {
        "description": "IntOrString is a type that can hold an int32 or a string.",
        "type": "string", "format": "int-or-string",
    }
    defs[_QUANTITY] = {
        "description": raw.get(_QUANTITY, {}).get("description", "Quantity"),
        "type": "string",
    }
    for schema in defs.values():
        props = schema.get("properties", {})
        for tm in ("apiVersion", "kind"):
            if isinstance(props.get(tm), dict):
                props[tm].pop("enum", None)
    return defs


@functools.lru_cache(maxsize=1)
def _gvk_index() -> dict[tuple[str, str, str], str]:
    index: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            key = (gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))
            # DeleteOptions, WatchEvent etc. are registered under many groups; first wins.
            index.setdefault(key, name)
    return index


def definition_name(group: str, version: str, kind: str) -> str | None:
    return _gvk_index().get((group, version, kind))


def get(name: str) -> dict[str, Any]:
    return definitions()[name]


def resolve(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Follow `$ref` (also inside a one-element allOf) to the referenced definition."""
    while schema:
        ref = schema.get("$ref")
        if ref is None and len(schema.get("allOf", [])) == 1:
            ref = schema["allOf"][0].get("$ref")
        if ref is None:
            return schema
        schema = definitions().get(ref.rsplit("/", 1)[-1], {})
    return schema or {}


def child(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """Schema of field `key` of an object schema (or of map values), resolved; None if unknown."""
    schema = resolve(schema)
    props = schema.get("properties")
    if props and key in props:
        return resolve(props[key])
    addl = schema.get("additionalProperties")
    if isinstance(addl, dict):
        return resolve(addl)
    return None


def items(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    schema = resolve(schema)
    it = schema.get("items")
    return resolve(it) if isinstance(it, dict) else None


def patch_meta(field_schema: dict[str, Any] | None) -> tuple[str, str]:
    """(x-kubernetes-patch-strategy, x-kubernetes-patch-merge-key) of an unresolved field schema."""
    if not field_schema:
        return "", ""
    return (field_schema.get("x-kubernetes-patch-strategy", ""),
            field_schema.get("x-kubernetes-patch-merge-key", ""))


def raw_property(schema: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The unresolved property schema (keeps x-kubernetes-* list metadata next to the $ref)."""
    schema = resolve(schema)
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    addl = schema.get("additionalProperties")
    return addl if isinstance(addl, dict) else None


def deep_copy(name: str) -> dict[str, Any]:
    return copy.deepcopy(get(name))
