"""`Tombstones`: the uids of objects a controller's watch has seen deleted.

Controllers here put the result of their own writes into their caches, since it comes back
before the write's watch event and the next sync must see it. It can also come back *after*
the watch event of the object's deletion (the write and the deletion were committed together,
and the watch handler ran first); put then, it brings the deleted object back into the cache
for good: a StatefulSet controller went on re-creating the pods and claims of a deleted set,
a scheduler would hold a deleted pod's requests on its node. A uid never comes back, so a
buried one is never put again. Upstream's controllers write nothing into their informer
caches (they track their writes as expectations); the tombstone is what that costs here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LIMIT = 1024  # a write's result lands within a few loop turns of its deletion's event


def uid_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


class Tombstones:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._uids: dict[str, None] = {}  # insertion-ordered: the oldest go first

    def bury(self, obj: Mapping[str, Any]) -> None:
        uid = uid_of(obj)
        if not uid:
            return
        self._uids[uid] = None
        if len(self._uids) > self.limit:
            del self._uids[next(iter(self._uids))]

    def buried(self, obj: Mapping[str, Any]) -> bool:
        uid = uid_of(obj)
        return bool(uid) and uid in self._uids

    def __len__(self) -> int:
        return len(self._uids)
