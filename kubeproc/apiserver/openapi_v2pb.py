"""`/openapi/v2` as protobuf: the swagger 2.0 document in gnostic's `openapi.v2.Document` form.

client-go asks for the v2 document in protobuf only (Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf), which kube-openapi's pkg/handler
serves; kubectl falls back to it where the v3 documents do not serve it, e.g. strict
client-side validation of a `kind: List`. The wire form follows gnostic-models'
openapiv2/OpenAPIv2.proto (field numbers below). What is encoded: swagger, info, the
definitions (every JSON Schema keyword kube-openapi emits, vendor extensions as YAML text, as
gnostic keeps them), security and securityDefinitions. Paths are left out: the v2 consumers in
kubectl and client-go (validation, explain, the apply fallback) read the definitions.
"""

from __future__ import annotations

import functools
import struct
from typing import Any

import orjson

# kube-openapi pkg/handler: both are accepted, the answer is labelled with the dotted one (Go's
# mime.ParseMediaType, which client-go applies to the reply, refuses the "@" of the other)
MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
MEDIA_TYPES = (MEDIA_TYPE, "application/com.github.proto-openapi.spec.v2@v1.0+protobuf")

_VARINT, _FIXED64, _LEN = 0, 1, 2

# Schema (OpenAPIv2.proto `message Schema`): JSON keyword -> (field number, kind)
_SCHEMA_FIELDS: dict[str, tuple[int, str]] = {
    "$ref": (1, "s"), "format": (2, "s"), "title": (3, "s"), "description": (4, "s"),
    "default": (5, "any"), "multipleOf": (6, "d"), "maximum": (7, "d"),
    "exclusiveMaximum": (8, "b"), "minimum": (9, "d"), "exclusiveMinimum": (10, "b"),
    "maxLength": (11, "i"), "minLength": (12, "i"), "pattern": (13, "s"), "maxItems": (14, "i"),
    "minItems": (15, "i"), "uniqueItems": (16, "b"), "maxProperties": (17, "i"),
    "minProperties": (18, "i"), "required": (19, "[s"), "enum": (20, "[any"),
    "additionalProperties": (21, "addl"), "type": (22, "type"), "items": (23, "items"),
    "allOf": (24, "[schema"), "properties": (25, "props"), "discriminator": (26, "s"),
    "readOnly": (27, "b"), "externalDocs": (29, "docs"), "example": (30, "any"),
}
_SCHEMA_VENDOR = 31


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64: negative numbers as their two's complement
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len(field: int, data: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(data)) + data


def _str(field: int, s: str) -> bytes:
    return _len(field, s.encode()) if s else b""  # proto3: the default is not written


def _any(field: int, value: Any) -> bytes:
    """gnostic's `Any` message: the value as YAML text (field 2); JSON is YAML."""
    return _len(field, _len(2, orjson.dumps(value)))


def _named(field: int, name: str, value: bytes) -> bytes:
    """A Named* message (ordered map entry): name = 1, value = 2."""
    return _len(field, _str(1, name) + _len(2, value))


def _vendor(field: int, obj: dict[str, Any]) -> bytes:
    return b"".join(_named(field, k, _len(2, orjson.dumps(v)))
                    for k, v in obj.items() if k.startswith("x-"))


def schema(s: Any) -> bytes:
    """One `Schema` message."""
    if not isinstance(s, dict):
        return b""
    out = bytearray()
    for key, value in s.items():
        spec = _SCHEMA_FIELDS.get(key)
        if spec is None:
            continue
        field, kind = spec
        if kind == "s":
            out += _str(field, str(value))
        elif kind == "b":
            if value:
                out += _key(field, _VARINT) + b"\x01"
        elif kind == "i":
            if value:
                out += _key(field, _VARINT) + _varint(int(value))
        elif kind == "d":
            if value:
                out += _key(field, _FIXED64) + struct.pack("<d", float(value))
        elif kind == "any":
            out += _any(field, value)
        elif kind == "[s":
            out += b"".join(_str(field, str(v)) for v in value or ())
        elif kind == "[any":
            out += b"".join(_any(field, v) for v in value or ())
        elif kind == "[schema":
            out += b"".join(_len(field, schema(v)) for v in value or ())
        elif kind == "addl":  # AdditionalPropertiesItem: oneof schema = 1, boolean = 2
            if isinstance(value, bool):
                item = _key(2, _VARINT) + (b"\x01" if value else b"\x00")
            else:
                item = _len(1, schema(value))
            out += _len(field, item)
        elif kind == "type":  # TypeItem: repeated string value = 1
            types = value if isinstance(value, list) else [value]
            out += _len(field, b"".join(_str(1, str(t)) for t in types))
        elif kind == "items":  # ItemsItem: repeated Schema schema = 1
            items = value if isinstance(value, list) else [value]
            out += _len(field, b"".join(_len(1, schema(i)) for i in items))
        elif kind == "props":  # Properties: repeated NamedSchema additional_properties = 1
            out += _len(field, b"".join(_named(1, k, schema(v)) for k, v in (value or {}).items()))
        elif kind == "docs":  # ExternalDocs: description = 1, url = 2
            out += _len(field, _str(1, value.get("description", "")) + _str(2, value.get("url", "")))
    out += _vendor(_SCHEMA_VENDOR, s)
    return bytes(out)


def _security_item(item: dict[str, Any]) -> bytes:
    """SecurityDefinitionsItem; kube-apiserver declares its bearer token as an apiKey scheme
    (oneof field 2: ApiKeySecurity type = 1, name = 2, in = 3, description = 4)."""
    if item.get("type") != "apiKey":
        return b""
    return _len(2, _str(1, "apiKey") + _str(2, item.get("name", "")) + _str(3, item.get("in", ""))
                + _str(4, item.get("description", "")) + _vendor(5, item))


def document(doc: dict[str, Any]) -> bytes:
    """The `Document` message for a swagger 2.0 JSON document."""
    out = bytearray(_str(1, doc.get("swagger", "")))
    info = doc.get("info") or {}
    if info:
        out += _len(2, _str(1, info.get("title", "")) + _str(2, info.get("version", ""))
                    + _str(3, info.get("description", "")) + _vendor(7, info))
    defs = doc.get("definitions") or {}
    if defs:
        out += _len(9, b"".join(_named(1, name, schema(s)) for name, s in defs.items()))
    for requirement in doc.get("security") or ():  # SecurityRequirement: NamedStringArray = 1
        out += _len(12, b"".join(_named(1, name, b"".join(_str(1, v) for v in values))
                                 for name, values in requirement.items()))
    sec = doc.get("securityDefinitions") or {}
    if sec:
        out += _len(13, b"".join(_named(1, name, _security_item(item)) for name, item in sec.items()))
    out += _vendor(16, doc)
    return bytes(out)


@functools.lru_cache(maxsize=2)
def encode(json_bytes: bytes) -> bytes:
    """The protobuf form of a swagger JSON document (memoized: it is built once per document)."""
    return document(orjson.loads(json_bytes))
