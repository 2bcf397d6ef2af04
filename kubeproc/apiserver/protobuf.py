"""Decode Kubernetes protobuf request bodies (application/vnd.kubernetes.protobuf) to JSON dicts.

Owns the wire format: the `k8s\\x00` magic, the runtime.Unknown envelope and a table-driven
protobuf reader that renders each message exactly as Go's encoding/json would render the same
object. The per-message field tables live in protobuf_messages.py. Every failure is a
BadRequest (malformed bytes) or UnsupportedMediaType (a kind without a table).
"""

from __future__ import annotations

import base64
import datetime
import functools
import json
from dataclasses import dataclass
from typing import Any, Callable

from kubeproc.api import errors
from kubeproc.apiserver.protobuf_messages import KINDS, MESSAGES

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"  # k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go protoEncodingPrefix
_MAX_DEPTH = 8  # RawExtension may hold another envelope; nothing legitimate nests deeper

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5
SCALARS = {"s", "i", "b", "y"}

# runtime.Unknown / TypeMeta (k8s.io/apimachinery/pkg/runtime/generated.proto) and the small
# wrapper messages whose JSON form is not an object (meta/v1, resource, intstr generated.proto).
_ENVELOPE: dict[str, str] = {
    "Unknown": "1=typeMeta:TypeMeta! 2=raw:y? 3=contentEncoding:s? 4=contentType:s?",  # raw: object
    "TypeMeta": "1=apiVersion:s? 2=kind:s?",
    "Timestamp": "1=seconds:i? 2=nanos:i?",
    "Quantity": "1=string:s?",
    "IntOrString": "1=type:i? 2=intVal:i? 3=strVal:s?",
    "RawExtension": "1=raw:y?",
    "Duration": "1=duration:i?",
    "StringList": "1=items:[]s?",
}


@dataclass(frozen=True)
class Field:
    """One table entry: JSON name, element type, and how Go's JSON encoder treats it."""

    name: str
    type: str  # "s" | "i" | "b" | "y" | message or special name
    mode: str  # "!" always, "?" omitempty, "*" pointer, "^" inlined struct
    repeated: bool = False
    is_map: bool = False


def parse_spec(spec: str) -> dict[int, Field]:
    """Parse one table line ("1=name:s! 2=^Inline 3=items:[]Item?") into fields by number."""
    fields: dict[int, Field] = {}
    for token in spec.split():
        num_text, rest = token.split("=", 1)
        if rest.startswith("^"):
            fields[int(num_text)] = Field("", rest[1:], "^")
            continue
        name, typ = rest.split(":", 1)
        mode, typ = typ[-1], typ[:-1]
        repeated, is_map = typ.startswith("[]"), typ.startswith("{}")
        fields[int(num_text)] = Field(name, typ[2:] if repeated or is_map else typ, mode,
                                      repeated, is_map)
    return fields


@functools.cache
def table(message: str) -> dict[int, Field]:
    """Parsed field table of `message` (KeyError if there is none)."""
    spec = MESSAGES.get(message)
    if spec is None:
        spec = _ENVELOPE[message]
    return parse_spec(spec)


def _bad(detail: str) -> errors.BadRequest:
    return errors.BadRequest(f"invalid protobuf body: {detail}")


class _Reader:
    """Bounds-checked cursor over one message's bytes."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data):
                raise _bad("truncated varint")
            if shift >= 70:
                raise _bad("varint overflows 64 bits")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result & 0xFFFFFFFFFFFFFFFF

    def take(self, n: int) -> bytes:
        if n > len(self.data) - self.pos:
            raise _bad("length exceeds remaining bytes")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def skip(self, wire: int) -> None:
        # Unknown field numbers are skipped, as gogo-generated Unmarshal does (skipGenerated).
        if wire == VARINT:
            self.varint()
        elif wire == FIXED64:
            self.take(8)
        elif wire == LEN:
            self.take(self.varint())
        elif wire == FIXED32:
            self.take(4)
        else:
            raise _bad(f"unsupported wire type {wire}")


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scan(data: bytes, fields: dict[int, Field], where: str) -> dict[int, list[Any]]:
    """Collect raw values per known field number: ints for varints, bytes for LEN fields."""
    found: dict[int, list[Any]] = {}
    r = _Reader(data)
    while r.pos < len(data):
        key = r.varint()
        num, wire = key >> 3, key & 7
        if num == 0 or num > 0x1FFFFFFF:
            raise _bad(f"illegal field number {num} in {where}")
        f = fields.get(num)
        if f is None:
            r.skip(wire)
            continue
        values = found.setdefault(num, [])
        if f.type in ("i", "b") and not f.is_map:
            if wire == VARINT:
                values.append(r.varint())
                continue
            if wire == LEN and f.repeated:  # packed repeated scalars
                packed = _Reader(r.take(r.varint()))
                while packed.pos < len(packed.data):
                    values.append(packed.varint())
                continue
            raise _bad(f"wrong wire type {wire} for {where}.{f.name or f.type}")
        if wire != LEN:
            raise _bad(f"wrong wire type {wire} for {where}.{f.name or f.type}")
        values.append(r.take(r.varint()))
    return found


def _text(raw: bytes) -> str:
    # Go strings are bytes; encoding/json replaces invalid UTF-8 with U+FFFD.
    return raw.decode("utf-8", errors="replace")


def _zero(typ: str, depth: int) -> Any:
    if typ == "s":
        return ""
    if typ == "i":
        return 0
    if typ == "b":
        return False
    if typ == "y":
        return ""
    return _message(b"", typ, depth)


def _scalar(typ: str, raw: Any) -> Any:
    if typ == "s":
        return _text(raw)
    if typ == "y":
        return base64.b64encode(raw).decode("ascii")  # encoding/json renders []byte as base64
    if typ == "b":
        return raw != 0
    return _signed(raw)


def _value(typ: str, raws: list[Any], depth: int) -> Any:
    """One singular field: last scalar wins; message chunks merge by concatenation (proto rule)."""
    if typ in SCALARS:
        return _scalar(typ, raws[-1])
    return _message(b"".join(raws), typ, depth)


def _map_entry(raw: bytes, typ: str, where: str, depth: int) -> tuple[str, Any]:
    entry = {1: Field("key", "s", "!"), 2: Field("value", typ, "!")}
    found = _scan(raw, entry, where)
    key = _scalar("s", found[1][-1]) if 1 in found else ""
    value = _value(typ, found[2], depth) if 2 in found else _zero(typ, depth)
    return key, value


def _message(data: bytes, message: str, depth: int) -> Any:
    """Render one message as Go's encoding/json would render the decoded Go struct."""
    special = _SPECIALS.get(message)
    if special is not None:
        return special(data, depth)
    if depth > _MAX_DEPTH:
        raise _bad("objects nested too deeply")
    fields = table(message)
    found = _scan(data, fields, message)
    out: dict[str, Any] = {}
    for num, f in fields.items():
        raws = found.get(num)
        if f.mode == "^":
            inlined = _message(b"".join(raws or []), f.type, depth)
            out.update(inlined)
        elif f.is_map or f.repeated:
            if raws and f.is_map:
                out[f.name] = dict(_map_entry(raw, f.type, f"{message}.{f.name}", depth)
                                   for raw in raws)
            elif raws:
                out[f.name] = [_value(f.type, [raw], depth) for raw in raws]
            elif f.mode == "!":  # an empty list decodes to a nil slice, which Go writes as null
                out[f.name] = None
        elif raws is None:
            if f.mode == "!":  # Go always writes the zero value of a non-omitempty field
                out[f.name] = _zero(f.type, depth)
        else:
            value = _value(f.type, raws, depth)
            if f.mode == "?" and f.type in SCALARS and not value:  # omitempty drops "", 0, false
                continue
            out[f.name] = value
    return out


def _envelope_fields(data: bytes, message: str) -> dict[str, Any]:
    """Last raw value (int or bytes) of each present field of a small wrapper message."""
    fields = table(message)
    return {fields[num].name: raws[-1] for num, raws in _scan(data, fields, message).items()}


def _time(data: bytes, depth: int, micro: bool = False) -> str | None:
    # meta/v1 time_proto.go: empty bytes are the zero Time, which time.go MarshalJSON writes as null.
    if not data:
        return None
    ts = _envelope_fields(data, "Timestamp")
    try:
        seconds = _signed(ts.get("seconds", 0))
        moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _bad(f"timestamp {_signed(ts.get('seconds', 0))} out of range") from None
    if not micro:  # Time keeps whole seconds only (Time.Unmarshal drops nanos)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    nanos = _signed32(ts.get("nanos", 0))
    if not 0 <= nanos < 1_000_000_000:
        raise _bad(f"timestamp nanos {nanos} out of range")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos // 1000:06d}Z"


def _quantity(data: bytes, depth: int) -> str:
    # The wire string is Quantity.String(), already canonical; the zero Quantity prints "0".
    return _text(_envelope_fields(data, "Quantity").get("string", b"")) or "0"


def _int_or_string(data: bytes, depth: int) -> int | str:
    # intstr.go MarshalJSON: Type 0 (Int) renders intVal, Type 1 (String) renders strVal.
    v = _envelope_fields(data, "IntOrString")
    kind = _signed(v.get("type", 0))
    if kind == 1:
        return _text(v.get("strVal", b""))
    if kind != 0:
        raise _bad(f"IntOrString type {kind} is neither 0 nor 1")
    return _signed32(v.get("intVal", 0))


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _raw_extension(data: bytes, depth: int) -> Any:
    # runtime.RawExtension MarshalJSON emits raw as JSON; nested protobuf objects are decoded.
    raw = _envelope_fields(data, "RawExtension").get("raw", b"")
    if not raw:
        return None
    if raw.startswith(MAGIC):
        return _decode(raw, depth + 1)
    try:
        return json.loads(raw)
    except ValueError:
        raise _bad("RawExtension holds neither JSON nor a protobuf object") from None


def _duration(data: bytes, depth: int) -> str:
    return go_duration(_signed(_envelope_fields(data, "Duration").get("duration", 0)))


def go_duration(nanos: int) -> str:
    """Go time.Duration.String(), e.g. 3_600_000_000_000 -> "1h0m0s", 1500 -> "1.5µs"."""
    if nanos == 0:
        return "0s"
    sign, n = ("-", -nanos) if nanos < 0 else ("", nanos)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _frac(n, size) + unit
    secs, frac = divmod(n, 1_000_000_000)
    hours, rem = divmod(secs, 3600)
    minutes, seconds = divmod(rem, 60)
    text = _frac(seconds * 1_000_000_000 + frac, 1_000_000_000) + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{text}"
    if minutes:
        return f"{sign}{minutes}m{text}"
    return sign + text


def _frac(n: int, size: int) -> str:
    whole, part = divmod(n, size)
    if not part:
        return str(whole)
    digits = f"{part:0{len(str(size)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}"


def _string_list(data: bytes, depth: int) -> list[str]:
    # AttestationValue-style wrappers marshal to JSON as their bare []string.
    found = _scan(data, table("StringList"), "StringList")
    return [_text(raw) for raw in found.get(1, [])]


_SPECIALS: dict[str, Callable[[bytes, int], Any]] = {
    "StringList": _string_list,
    "Time": _time,
    "MicroTime": lambda data, depth: _time(data, depth, micro=True),
    "Quantity": _quantity,
    "IntOrString": _int_or_string,
    "RawExtension": _raw_extension,
    "Duration": _duration,
}


def _decode(body: bytes, depth: int) -> dict[str, Any]:
    if not body.startswith(MAGIC):
        raise _bad("missing the k8s\\x00 prefix")
    unknown = _envelope_fields(body[len(MAGIC):], "Unknown")
    type_meta = _envelope_fields(unknown.get("typeMeta", b""), "TypeMeta")
    api_version = _text(type_meta.get("apiVersion", b""))
    kind = _text(type_meta.get("kind", b""))
    if not kind or not api_version:
        raise _bad("the runtime.Unknown envelope has no apiVersion/kind")
    encoding = _text(unknown.get("contentEncoding", b""))
    if encoding:
        raise errors.UnsupportedMediaType(f"protobuf content encoding {encoding!r} is not supported")
    content_type = _text(unknown.get("contentType", b""))
    if content_type not in ("", MEDIA_TYPE):
        raise errors.UnsupportedMediaType(
            f"protobuf envelope content type {content_type!r} is not supported")
    message = KINDS.get((api_version, kind)) or KINDS.get(("*", kind))
    if message is None:
        raise errors.UnsupportedMediaType(
            f"the server cannot decode {kind} ({api_version}) from {MEDIA_TYPE}; "
            "send it as application/json")
    raw = unknown.get("raw", b"")
    obj: dict[str, Any] = {"kind": kind, "apiVersion": api_version}
    obj.update(_message(raw, message, depth))
    return obj


def decode(body: bytes) -> dict[str, Any]:
    """Decode a `k8s\\x00`-prefixed runtime.Unknown body to the object's JSON dict.

    Raises errors.BadRequest for malformed input and errors.UnsupportedMediaType for a kind
    (or envelope encoding) with no decoder; nothing else escapes.
    """
    try:
        return _decode(bytes(body), 0)
    except errors.StatusError:
        raise
    except RecursionError:
        raise _bad("objects nested too deeply") from None
    except (ValueError, KeyError, IndexError, TypeError, OverflowError) as e:
        # Belt and braces for hostile input: a bug here must still answer 400, not 500.
        raise _bad(f"undecodable body ({type(e).__name__})") from None
