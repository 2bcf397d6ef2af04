"""Memo for pure checks of one JSON subtree: the same subtree gives the same findings.

Pods of one template, and updates that leave a spec alone, check identical specs again and
again (validation, unknown fields, type errors). The key is a context plus the subtree's exact
JSON text. The text alone would confuse NaN and infinities with null (orjson writes them so),
so a value counts only when decoding its text gives it back (compared as Python values),
both when its findings are stored and when they are reused. Findings must be immutable
(frozen Causes, strings); they are shared. Memory is bounded by entry count and text size.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import orjson

MAX_TEXT = 8 * 1024  # bigger subtrees are checked every time
SIZE = 256


class SubtreeMemo:
    """Wraps `fn(value, ctx) -> list` (pure, and must not mutate `value`); same results."""

    def __init__(self, fn: Callable[[Any, Any], list[Any]], size: int = SIZE) -> None:
        self._fn = fn
        self._size = size
        self._entries: OrderedDict[tuple[Hashable, bytes], tuple[Any, ...]] = OrderedDict()

    def __call__(self, value: Any, ctx: Hashable) -> list[Any]:
        try:
            text = orjson.dumps(value)
        except (orjson.JSONEncodeError, TypeError):  # non-string keys, huge ints: not cached
            return self._fn(value, ctx)
        if len(text) > MAX_TEXT:
            return self._fn(value, ctx)
        key = (ctx, text)
        hit = self._entries.get(key)
        if hit is not None and _round_trips(text, value):
            self._entries.move_to_end(key)
            return list(hit)
        found = self._fn(value, ctx)
        if _round_trips(text, value):
            self._entries[key] = tuple(found)
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return list(found)

    def clear(self) -> None:
        self._entries.clear()


def _round_trips(text: bytes, value: Any) -> bool:
    # equal text and equal decoded values: same structure, key order, types and numbers
    return orjson.loads(text) == value
