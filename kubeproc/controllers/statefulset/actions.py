"""The StatefulSet plan's action records and result: plain data, no behaviour.

The executor applies `StatefulSetActions.actions` in list order within one sync (see
plan.py for the contract), then the next sync plans again from fresh state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

Obj = dict[str, Any]


@dataclass(frozen=True)
class AdoptRevision:
    """Add the set's controller ref to an orphan ControllerRevision (adoptOrphanRevisions)."""
    name: str
    uid: str


@dataclass(frozen=True)
class AdoptPod:
    """Add the set's controller ref to an orphan pod (ClaimPods); uid as precondition."""
    name: str
    uid: str


@dataclass(frozen=True)
class ReleasePod:
    """Remove the set's ownerReference from a pod it no longer selects (ClaimPods)."""
    name: str
    uid: str


@dataclass(frozen=True)
class CreateRevision:
    revision: Obj


@dataclass(frozen=True)
class UpdateRevision:
    """Renumber an existing revision (a rollback to an earlier template)."""
    name: str
    revision: int


@dataclass(frozen=True)
class CreateClaim:
    claim: Obj
    pod: str  # the pod the claim is created for (events)


@dataclass(frozen=True)
class CreatePod:
    pod: Obj


@dataclass(frozen=True)
class UpdatePod:
    """Replace the pod with `pod` (identity/storage repair); carries the listed resourceVersion."""
    pod: Obj


@dataclass(frozen=True)
class DeletePod:
    name: str
    uid: str  # "" when the pod was planned but not observed yet: no precondition
    reason: str  # "failed" | "condemned" | "update"


@dataclass(frozen=True)
class UpdateClaimOwnerRefs:
    """Set metadata.ownerReferences of the claim to exactly `owner_references`."""
    name: str
    owner_references: list[Obj]
    pod: str


@dataclass(frozen=True)
class UpdateStatus:
    status: Obj


@dataclass(frozen=True)
class DeleteRevision:
    name: str


Action = Union[AdoptRevision, AdoptPod, ReleasePod, CreateRevision, UpdateRevision, CreateClaim, CreatePod,
               UpdatePod, DeletePod, UpdateClaimOwnerRefs, UpdateStatus, DeleteRevision]


@dataclass
class StatefulSetActions:
    actions: list[Action] = field(default_factory=list)
    status: Obj | None = None  # the computed status (also in UpdateStatus when it changed)
    requeue_after: float | None = None  # seconds; minReadySeconds pending availability
    error: str = ""  # the sync ends in error: requeue with rate limiting after applying

    def of(self, kind: type) -> list[Any]:
        return [a for a in self.actions if isinstance(a, kind)]
