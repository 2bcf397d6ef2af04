"""Server-owned metadata: uid, timestamps, generateName, and the managers' names.

Follows k8s.io/apiserver/pkg/registry/rest/create.go (BeforeCreate: FillObjectMetaSystemFields,
generateName) and update.go (BeforeUpdate: system fields are kept from the stored object).
"""

from __future__ import annotations

import datetime as _dt
import random
import uuid
from typing import Any

# k8s.io/apimachinery/pkg/util/rand: consonants and digits that never spell words.
_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
_MAX_GENERATED_NAME_LENGTH = 63 - 5  # storage/names/generate.go maxGeneratedNameLength


def now_rfc3339(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        return _dt.datetime.strptime(value[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def random_suffix(n: int = 5, rng: random.Random | None = None) -> str:
    r = rng or random
    return "".join(r.choice(_ALPHANUMS) for _ in range(n))


def generate_name(base: str) -> str:
    """storage/names.SimpleNameGenerator: truncate the base, append 5 random characters."""
    return base[:_MAX_GENERATED_NAME_LENGTH] + random_suffix()


def fill_system_fields(obj: dict[str, Any], now: str) -> None:
    meta = obj.setdefault("metadata", {})
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion", "selfLink"):
        meta.pop(key, None)


def keep_system_fields(new: dict[str, Any], old: dict[str, Any]) -> None:
    """On update, fields only the server sets come from the stored object."""
    nm, om = new.setdefault("metadata", {}), old.get("metadata", {})
    for key in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                "generation"):
        if key in om:
            nm[key] = om[key]
        else:
            nm.pop(key, None)
    nm.pop("selfLink", None)


def manager_from_user_agent(user_agent: str) -> str:
    """fieldmanager: default manager is the user agent up to the first '/' (max 128 chars)."""
    name = (user_agent or "unknown").split("/", 1)[0]
    return name[:128] or "unknown"
