"""StatefulSet controller: pure planning (plan.py) over identity, storage, history, ownership."""

from kubeproc.controllers.statefulset.actions import StatefulSetActions
from kubeproc.controllers.statefulset.plan import plan

__all__ = ["StatefulSetActions", "plan"]
