"""Deeply read-only dict and list types, to catch mutations of shared decoded objects.

Watch events are decoded once and shared by every in-process watcher (as upstream's
SharedInformer shares one object among informers); nobody may change such an object in place.
In checking mode (KUBEPROC_CHECK_SHARED=1, set for the test suite) the shared decode is built
from these types, whose mutating methods raise; reads, copies and JSON encoding stay plain.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

READ_ONLY = "shared watch object is read-only: copy it first"
CHECK_ENV = "KUBEPROC_CHECK_SHARED"


# os.environ's own table (bytes on POSIX, kept in step by os.environ[...] = and monkeypatch):
# reading it costs ~30 ns, os.environ.get ~700 ns, and every watcher's first look at every
# event asks (a 500-pod burst: ~10^5 times)
_ENV_TABLE = getattr(os.environ, "_data", None)
_CHECK_KEY = os.fsencode(CHECK_ENV)


def checking() -> bool:
    """Whether shared objects are handed out frozen (read at each call, so tests may toggle)."""
    if isinstance(_ENV_TABLE, dict):
        return _ENV_TABLE.get(_CHECK_KEY) == b"1"
    return os.environ.get(CHECK_ENV, "") == "1"


def _refuse(self: Any, *args: Any, **kwargs: Any) -> NoReturn:
    raise TypeError(READ_ONLY)


def thaw(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A plain mutable deep copy of a (possibly frozen) JSON-like tree."""
    if memo is None:
        memo = {}
    if isinstance(value, dict):
        done = memo.get(id(value))
        if done is not None:
            return done
        out: dict[Any, Any] = {}
        memo[id(value)] = out
        for k, v in dict.items(value):
            out[k] = thaw(v, memo)
        return out
    if isinstance(value, list):
        done = memo.get(id(value))
        if done is not None:
            return done
        items: list[Any] = []
        memo[id(value)] = items
        for v in list.__iter__(value):
            items.append(thaw(v, memo))
        return items
    return value  # JSON scalars are immutable


class FrozenDict(dict):  # type: ignore[type-arg]
    """A dict whose contents cannot change; copies of it (dict(), copy, deepcopy) are plain."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    setdefault = _refuse
    pop = _refuse
    popitem = _refuse
    update = _refuse
    clear = _refuse
    __ior__ = _refuse

    def __copy__(self) -> dict[Any, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[Any, Any]:
        return thaw(self, memo)  # type: ignore[no-any-return]

    def __reduce__(self) -> NoReturn:
        # Without this, copy/pickle protocols could rebuild a FrozenDict through __setitem__.
        raise TypeError("FrozenDict is not picklable; copy it first")


class FrozenList(list):  # type: ignore[type-arg]
    """A list whose contents cannot change; copies of it (list(), copy, deepcopy) are plain."""

    __slots__ = ()

    __setitem__ = _refuse
    __delitem__ = _refuse
    append = _refuse
    extend = _refuse
    insert = _refuse
    remove = _refuse
    sort = _refuse
    reverse = _refuse
    pop = _refuse
    clear = _refuse
    __iadd__ = _refuse
    __imul__ = _refuse

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return thaw(self, memo)  # type: ignore[no-any-return]

    def __reduce__(self) -> NoReturn:
        raise TypeError("FrozenList is not picklable; copy it first")


def freeze(value: Any) -> Any:
    """A deeply frozen copy of a decoded JSON tree (dicts and lists become Frozen*)."""
    if isinstance(value, dict):
        out = FrozenDict()
        # dict.update on the base type fills it without the refusing override
        dict.update(out, ((k, freeze(v)) for k, v in value.items()))
        return out
    if isinstance(value, list):
        items = FrozenList()
        list.extend(items, (freeze(v) for v in value))
        return items
    return value
