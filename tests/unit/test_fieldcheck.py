"""Decode-time schema checks: unknown fields, duplicate fields and JSON type errors."""

from __future__ import annotations

from typing import Any

import pytest

from kubeproc.api.fieldcheck import duplicate_fields, type_errors, unknown_fields

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"
SECRET = "io.k8s.api.core.v1.Secret"
QUANTITY_MSG = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"


def _pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


UNKNOWN_CASES = [
    ("valid-pod", POD, _pod(), []),
    ("top-level-spec-field", POD, _pod(foo=1), ["spec.foo"]),
    ("list-item-field", POD, _pod(containers=[{"name": "c", "image": "i", "bogus": True}]),
     ["spec.containers[0].bogus"]),
    ("nested-list-item", POD, _pod(containers=[{"name": "c", "image": "i", "ports": [{"containerPort": 80, "x": 1}]}]),
     ["spec.containers[0].ports[0].x"]),
    ("metadata-field", POD, {"metadata": {"name": "p", "nme": "q"}}, ["metadata.nme"]),
    ("map-values-any-key", POD, {"metadata": {"labels": {"anything": "x"}, "annotations": {"k": "v"}}}, []),
    ("document-order", POD, {"zz": 1, "spec": {"aa": 1}, "metadata": {"bb": 2}},
     ["zz", "spec.aa", "metadata.bb"]),
    ("template-in-deployment", DEPLOYMENT,
     {"spec": {"template": {"metadata": {"labelz": {}}, "spec": {"containers": [{"name": "c", "imagee": "x"}]}}}},
     ["spec.template.metadata.labelz", "spec.template.spec.containers[0].imagee"]),
    ("raw-extension-free-form", "io.k8s.api.apps.v1.ControllerRevision", {"data": {"spec": {"whatever": 1}}}, []),
    ("managed-fields-free-form", POD, {"metadata": {"managedFields": [{"fieldsV1": {"f:spec": {}}}]}}, []),
    ("int-or-string-scalar", DEPLOYMENT, {"spec": {"strategy": {"rollingUpdate": {"maxSurge": "25%"}}}}, []),
]


@pytest.mark.parametrize("def_name, obj, expected", [c[1:] for c in UNKNOWN_CASES], ids=[c[0] for c in UNKNOWN_CASES])
def test_unknown_fields(def_name: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert unknown_fields(def_name, obj) == expected


DUPLICATE_CASES = [
    ("none", b'{"metadata":{"name":"a"}}', []),
    ("metadata-name", b'{"metadata":{"name":"a","name":"b"}}', ["metadata.name"]),
    ("top-level", b'{"kind":"Pod","kind":"Pod"}', ["kind"]),
    ("in-list", b'{"spec":{"containers":[{"name":"a"},{"name":"b","image":"x","image":"y"}]}}',
     ["spec.containers[1].image"]),
    ("reported-once", b'{"a":1,"a":2,"a":3}', ["a"]),
    ("not-json", b'{"a":', []),
]


@pytest.mark.parametrize("raw, expected", [c[1:] for c in DUPLICATE_CASES], ids=[c[0] for c in DUPLICATE_CASES])
def test_duplicate_fields(raw: bytes, expected: list[str]) -> None:
    assert duplicate_fields(raw) == expected


def _go(kind: str, field: str, go_type: str) -> str:
    return f"json: cannot unmarshal {kind} into Go struct field {field} of type {go_type}"


TYPE_CASES = [
    ("valid", POD, _pod(), []),
    ("string-for-int", POD, _pod(containers=[{"name": "c", "ports": [{"containerPort": "80"}]}]),
     [("spec.containers[0].ports[0].containerPort",
       _go("string", "ContainerPort.spec.containers.ports.containerPort", "int32"))]),
    ("string-for-list", POD, {"spec": {"containers": "nginx"}},
     [("spec.containers", _go("string", "PodSpec.spec.containers", "[]v1.Container"))]),
    ("string-for-list-item", POD, {"spec": {"containers": ["nginx"]}},
     [("spec.containers[0]", _go("string", "PodSpec.spec.containers", "v1.Container"))]),
    ("number-label-value", POD, {"metadata": {"labels": {"version": 2}}},
     [("metadata.labels[version]", _go("number", "ObjectMeta.metadata.labels", "string"))]),
    ("string-for-struct", POD, {"spec": "x"}, [("spec", _go("string", "Pod.spec", "v1.PodSpec"))]),
    ("object-for-string", POD, {"spec": {"containers": [{"name": {"a": 1}}]}},
     [("spec.containers[0].name", _go("object", "Container.spec.containers.name", "string"))]),
    ("fraction-for-int", DEPLOYMENT, {"spec": {"replicas": 1.5}},
     [("spec.replicas", _go("number 1.5", "DeploymentSpec.spec.replicas", "int32"))]),
    ("int32-overflow", DEPLOYMENT, {"spec": {"replicas": 2**31}},
     [("spec.replicas", _go("number 2147483648", "DeploymentSpec.spec.replicas", "int32"))]),
    ("string-for-bool", POD, {"spec": {"hostNetwork": "true"}},
     [("spec.hostNetwork", _go("string", "PodSpec.spec.hostNetwork", "bool"))]),
    ("int-or-string-bool", DEPLOYMENT, {"spec": {"strategy": {"rollingUpdate": {"maxSurge": True}}}},
     [("spec.strategy.rollingUpdate.maxSurge",
       _go("bool", "RollingUpdateDeployment.spec.strategy.rollingUpdate.maxSurge", "intstr.IntOrString"))]),
    ("int-or-string-accepts-both", DEPLOYMENT,
     {"spec": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "10%"}}}}, []),
    ("quantity-accepts-number-and-string", POD,
     _pod(containers=[{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]), []),
    ("quantity-malformed", POD, _pod(containers=[{"name": "c", "resources": {"limits": {"memory": "1GB"}}}]),
     [("spec.containers[0].resources.limits[memory]", QUANTITY_MSG)]),
    ("null-is-zero-value", POD, {"spec": {"containers": None, "hostNetwork": None}}, []),
    ("secret-base64", SECRET, {"data": {"k": "no$pe"}}, [("data[k]", "illegal base64 data at input byte 2")]),
    ("secret-base64-valid", SECRET, {"data": {"k": "dmFsdWU="}}, []),
]


@pytest.mark.parametrize("def_name, obj, expected", [c[1:] for c in TYPE_CASES], ids=[c[0] for c in TYPE_CASES])
def test_type_errors(def_name: str, obj: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(c.field, c.message) for c in type_errors(def_name, obj)] == expected


@pytest.mark.parametrize("raw", [
    b'{"a":1,"a":2}', b'{"a":{"b":1,"b":2}}', b'{"a":"x\\":","a":1}',
    b'{"a":[{"x":1},{"x":1,"x":2}]}', b'{"a":1}', b'{"s":"k\\":v","t":{"u":[1,{"v":2}]}}',
    b'{ "a" : 1 , "b" :{"c" :2}}',
], ids=["top", "nested", "colon-in-string", "in-list", "none", "none-colon-in-string", "spaces"])
def test_duplicate_fields_quick_count_agrees_with_full_parse(raw):
    import json as _json
    from kubeproc.api import fieldcheck as fc
    count = fc.count_keys(_json.loads(raw))
    assert fc.duplicate_fields(raw, count) == fc.duplicate_fields(raw)
