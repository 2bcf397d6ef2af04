"""PATCH of the scale subresource applies to the latest object: a concurrent status write is no
conflict (upstream retries the patch on a fresh read); a resourceVersion in the patch is a
precondition."""

from __future__ import annotations

import json

import pytest

from kubeproc.api import errors, resources
from kubeproc.registry.registry import WriteOptions
from kubeproc.registry.subresources import patch_scale
from tests.unit.service_registry import running_registry

DEPLOY = resources.by_kind("apps", "Deployment")
MERGE = "application/merge-patch+json"


@pytest.fixture
def reg(tmp_path):
    yield from running_registry(str(tmp_path / "db"))


def _deploy() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "d"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "w"}},
                     "template": {"metadata": {"labels": {"app": "w"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_patch_after_a_status_write_applies_to_the_latest_object(reg) -> None:
    registry, loop = reg
    run = loop.run_until_complete
    run(registry.create(DEPLOY, "d", _deploy(), WriteOptions(field_manager="t")))

    def bump_status(o: dict) -> dict:
        o.setdefault("status", {})["observedGeneration"] = 1
        return o
    run(registry.patch_with(DEPLOY, "d", "web", bump_status, WriteOptions(subresource="status")))
    scale = run(patch_scale(registry, DEPLOY, "d", "web", MERGE, json.dumps({"spec": {"replicas": 4}}).encode(),
                            WriteOptions(field_manager="t")))
    assert scale["spec"]["replicas"] == 4
    stale = json.dumps({"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 2}}).encode()
    with pytest.raises(errors.Conflict):
        run(patch_scale(registry, DEPLOY, "d", "web", MERGE, stale, WriteOptions(field_manager="t")))
    assert registry.get_obj(DEPLOY, "d", "web")["spec"]["replicas"] == 4
