"""env valueFrom.fieldRef paths (validation.go validateObjectFieldSelector)."""

from __future__ import annotations

import pytest

from kubeproc.api.validation.containers import _env_field_ref

P = "spec.containers[0].env[0].valueFrom.fieldRef"


@pytest.mark.parametrize("fp,field,msg", [
    ("metadata.name", None, None),
    ("status.podIPs", None, None),
    ("metadata.labels['app']", None, None),
    ("metadata.labels", P + ".fieldPath", 'Unsupported value: "metadata.labels": supported values: "metadata.name"'),
    ("status.phase", P + ".fieldPath", 'Unsupported value: "status.phase"'),
    ("spec.foo", P + ".fieldPath", "error converting fieldPath: field label not supported: spec.foo"),
    ("spec.nodeName['x']", P + ".fieldPath", "field label does not support subscript"),
    ("metadata.labels['a b']", P, 'Invalid value: "a b"'),
    ("", P + ".fieldPath", "Required value"),
], ids=["name", "pod-ips", "one-label", "whole-labels", "phase-not-for-env", "unknown",
        "subscript-not-supported", "bad-label-key", "empty"])
def test_env_field_paths(fp, field, msg):
    causes = _env_field_ref({"fieldPath": fp}, P)
    if msg is None:
        assert causes == []
    else:
        assert len(causes) == 1 and causes[0].field == field and msg in causes[0].message
