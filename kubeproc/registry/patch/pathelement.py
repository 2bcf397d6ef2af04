"""Field path elements: their identity, ordering and text forms.

Ports sigs.k8s.io/structured-merge-diff fieldpath element.go / serialize-pe.go and value
ordering: a path element is a struct field name (`f:`), a map-list item key (`k:`), a
set-list value (`v:`) or an index (`i:`). Interning, PathElement.Compare order, the
`.spec.x[name="a"]` path strings and FieldsV1 keys follow upstream byte for byte.
"""

from __future__ import annotations

import functools
import json
import operator
from typing import Any


def canonical(value: Any) -> str:
    """A hashable identity of a JSON value (ints and equal floats compare equal, as upstream)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_INTERN_LIMIT = 1 << 16  # bound the element caches (field names come from user data)
_fields: dict[str, "PathElement"] = {}
_keys: dict[tuple[tuple[str, Any], ...], "PathElement"] = {}
_parsed: dict[str, "PathElement"] = {}


class PathElement:
    """One step of a field path. `payload` is the name, key fields, value or index.

    Immutable; equal (and hashing alike) when kind and canonical text are. Elements are
    compared and hashed millions of times, so the hash is computed once and field and key
    elements are interned.
    """

    __slots__ = ("kind", "canon", "payload", "_hash", "_serialized")
    kind: str  # "f", "k", "v" or "i"
    canon: str
    payload: Any

    def __init__(self, kind: str, canon: str, payload: Any = None) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "canon", canon)
        object.__setattr__(self, "payload", payload)
        object.__setattr__(self, "_hash", hash((kind, canon)))
        object.__setattr__(self, "_serialized", None)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, PathElement):
            return NotImplemented
        return self._hash == other._hash and self.kind == other.kind and self.canon == other.canon

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"PathElement(kind={self.kind!r}, canon={self.canon!r}, payload={self.payload!r})"

    @staticmethod
    def field(name: str) -> "PathElement":
        pe = _fields.get(name)
        if pe is None:
            if len(_fields) >= _INTERN_LIMIT:
                _fields.clear()
            pe = _fields[name] = PathElement("f", name, name)
        return pe

    @staticmethod
    def key(fields: dict[str, Any]) -> "PathElement":
        # fieldpath KeyByFields: key fields are kept sorted by name
        pairs = tuple(sorted(fields.items()))
        # Interned only for str/int values: 1, 1.0 and True (or 0.0 and -0.0) are equal in
        # Python but not in JSON, so other values always get their own canonical text.
        if not all(type(v) is str or type(v) is int for _, v in pairs):
            return PathElement("k", canonical([[k, v] for k, v in pairs]), pairs)
        pe = _keys.get(pairs)
        if pe is None:
            if len(_keys) >= _INTERN_LIMIT:
                _keys.clear()
            pe = _keys[pairs] = PathElement("k", canonical([[k, v] for k, v in pairs]), pairs)
        return pe

    @staticmethod
    def value(v: Any) -> "PathElement":
        return PathElement("v", canonical(v), v)

    @staticmethod
    def index(i: int) -> "PathElement":
        return PathElement("i", str(i), i)

    def __str__(self) -> str:
        # fieldpath/element.go PathElement.String
        if self.kind == "f":
            return "." + self.payload
        if self.kind == "k":
            return "[" + ",".join(f"{k}={value_string(v)}" for k, v in self.payload) + "]"
        if self.kind == "v":
            return f"[={value_string(self.payload)}]"
        return f"[{self.payload}]"

    def serialize(self) -> str:
        """The FieldsV1 key for this element (fieldpath/serialize-pe.go)."""
        text = self._serialized
        if text is None:  # worked out once: interned elements are serialised again and again
            text = self._serialize()
            object.__setattr__(self, "_serialized", text)
        return text

    def _serialize(self) -> str:
        if self.kind == "f":
            return "f:" + self.payload
        if self.kind == "k":
            return "k:{" + ",".join(f"{go_json(k)}:{go_json(v)}" for k, v in self.payload) + "}"
        if self.kind == "v":
            return "v:" + go_json(self.payload)
        return f"i:{self.payload}"

    @staticmethod
    def deserialize(s: str) -> "PathElement":
        pe = _parsed.get(s)
        if pe is None:  # FieldsV1 keys repeat in every stored managedFields entry
            if len(_parsed) >= _INTERN_LIMIT:
                _parsed.clear()
            pe = _parsed[s] = PathElement._deserialize(s)
        return pe

    @staticmethod
    def _deserialize(s: str) -> "PathElement":
        if len(s) < 2 or s[1] != ":":
            raise ValueError(f"invalid path element {s!r}")
        kind, rest = s[0], s[2:]
        if kind == "f":
            return PathElement.field(rest)
        if kind == "v":
            return PathElement.value(json.loads(rest))
        if kind == "k":
            fields = json.loads(rest)
            if not isinstance(fields, dict):
                raise ValueError(f"invalid key path element {s!r}")
            return PathElement.key(fields)
        if kind == "i":
            return PathElement.index(int(rest))
        raise ValueError(f"unknown path element type {s!r}")


Path = tuple[PathElement, ...]


def go_json(value: Any) -> str:
    """Compact JSON as Go's encoding/json writes it (HTML characters escaped, UTF-8 kept)."""
    out = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return (out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def value_string(v: Any) -> str:
    """value.ToString: strings quoted Go-style, maps as k=v runs."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(value_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "".join(f"{k}={value_string(x)}" for k, x in v.items())
    return str(v)


def path_string(path: Path) -> str:
    return "".join(str(pe) for pe in path)


def _type_rank(v: Any) -> int:
    if isinstance(v, bool):
        return 3
    if isinstance(v, (int, float)):
        return 1
    if isinstance(v, str):
        return 2
    if isinstance(v, list):
        return 4
    if isinstance(v, dict):
        return 5
    return 6  # null sorts last


def _cmp(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


def compare_values(a: Any, b: Any) -> int:
    """value.Compare: numbers < strings < bools < lists < maps < null."""
    ra, rb = _type_rank(a), _type_rank(b)
    if ra != rb:
        return _cmp(ra, rb)
    if ra in (1, 2, 3):
        return _cmp(a, b)
    if ra == 4:
        for x, y in zip(a, b):
            if c := compare_values(x, y):
                return c
        return _cmp(len(a), len(b))
    if ra == 5:
        ka, kb = sorted(a), sorted(b)
        for x, y in zip(ka, kb):
            if c := _cmp(x, y) or compare_values(a[x], b[y]):
                return c
        return _cmp(len(ka), len(kb))
    return 0


_KIND_RANK = {"f": 0, "k": 1, "v": 2, "i": 3}


def compare_elements(a: PathElement, b: PathElement) -> int:
    """PathElement.Compare: field names < keys < values < indices."""
    if a.kind != b.kind:
        return _cmp(_KIND_RANK[a.kind], _KIND_RANK[b.kind])
    if a.kind in ("f", "i"):
        return _cmp(a.payload, b.payload)
    if a.kind == "v":
        return compare_values(a.payload, b.payload)
    for (na, va), (nb, vb) in zip(a.payload, b.payload):  # value.FieldList.Compare
        if c := _cmp(na, nb) or compare_values(va, vb):
            return c
    return _cmp(len(a.payload), len(b.payload))


_sort_key = functools.cmp_to_key(compare_elements)


_payload = operator.attrgetter("payload")
_kind = operator.attrgetter("kind")


def sorted_elements(elements: Any) -> list[PathElement]:
    """Elements in PathElement.Compare order; plain name order when all are field names."""
    items = list(elements)
    if len(items) > 1:
        if set(map(_kind, items)) == {"f"}:
            items.sort(key=_payload)  # compare_elements on two fields compares the names
        else:
            items.sort(key=_sort_key)
    return items
