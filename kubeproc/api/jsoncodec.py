"""JSON encoding and decoding for API objects, fast (orjson) with exact fallbacks.

orjson rejects what JSON objects from YAML may hold (integers past 64 bits, non-string keys);
those fall back to the standard library so nothing valid is refused. Decoding limits nesting
(orjson stops at 1024 levels), so a hostile body cannot exhaust the stack.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_OPTS = orjson.OPT_NON_STR_KEYS


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj, option=_OPTS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def loads(data: bytes | str) -> Any:
    """Parse JSON; raises ValueError (orjson.JSONDecodeError is one) on bad input."""
    return orjson.loads(data)
