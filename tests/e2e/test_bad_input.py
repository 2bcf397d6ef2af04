"""Bad input: every answer is a Status with the right code, the server keeps serving, and the
store is unchanged (its global resourceVersion does not move)."""

from __future__ import annotations

import json

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROTOBUF = "application/vnd.kubernetes.protobuf"


def _rv(cluster) -> str:
    code, body = cluster.request("GET", "/api/v1/namespaces")
    assert code == 200
    return body["metadata"]["resourceVersion"]


@pytest.fixture(autouse=True, scope="module")
def _settled(cluster):
    """The checks compare the store's global resourceVersion: wait until the freshly started
    instance's own writes (controllers bootstrapping) are done, i.e. it stays still for 1 s."""
    deadline = time.monotonic() + 30
    last, since = _rv(cluster), time.monotonic()
    while time.monotonic() - since < 1.0:
        assert time.monotonic() < deadline, "the store kept changing for 30 s after start"
        time.sleep(0.1)
        rv = _rv(cluster)
        if rv != last:
            last, since = rv, time.monotonic()


def _assert_status(code, body, allowed=range(400, 500)):
    assert code in allowed, (code, body)
    assert isinstance(body, dict) and body.get("kind") == "Status", body
    assert body["code"] == code and body["status"] == "Failure" and body.get("reason"), body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20)

bad_objects = st.fixed_dictionaries({
    "apiVersion": st.sampled_from(["v1", "apps/v1", "v2", 5, None]),
    "kind": st.sampled_from(["ConfigMap", "Pod", "Deployment", "", None, 3]),
    "metadata": st.one_of(json_values, st.fixed_dictionaries({
        "name": st.one_of(st.text(max_size=300), st.integers(), st.none()),
        "labels": json_values})),
    "data": json_values,
    "spec": json_values,
})

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@SETTINGS
@given(body=st.binary(max_size=2000), ctype=st.sampled_from(
    ["application/json", "application/yaml", PROTOBUF, "text/plain", ""]))
def test_random_bytes_are_rejected(cluster, body, ctype):
    before = _rv(cluster)
    code, resp = cluster.request("POST", "/api/v1/namespaces/fuzz-missing/configmaps",
                                 body or b"x", content_type=ctype or "application/json")
    _assert_status(code, resp)
    assert _rv(cluster) == before


@SETTINGS
@given(obj=bad_objects, path=st.sampled_from([
    "/api/v1/namespaces/fuzz-missing/configmaps", "/apis/apps/v1/namespaces/fuzz-missing/deployments",
    "/api/v1/namespaces/default/pods", "/api/v1/namespaces"]))
def test_wrong_types_and_bad_names_are_rejected(cluster, obj, path):
    if path == "/api/v1/namespaces" and isinstance(obj.get("metadata"), dict):
        obj["kind"] = "Namespace" if obj["kind"] == "ConfigMap" else obj["kind"]
    before = _rv(cluster)
    code, resp = cluster.request("POST", path, json.dumps(obj).encode())
    if code == 201:  # a valid Namespace may come out of the generator: then it was created
        assert path == "/api/v1/namespaces"
        cluster.request("DELETE", f"/api/v1/namespaces/{resp['metadata']['name']}")
        return
    _assert_status(code, resp)
    assert _rv(cluster) == before


@SETTINGS
@given(selector=st.text(max_size=40))
def test_arbitrary_selectors_never_break_the_server(cluster, selector):
    from urllib.parse import quote
    code, resp = cluster.request("GET", f"/api/v1/pods?labelSelector={quote(selector)}")
    if code != 200:
        _assert_status(code, resp, allowed=[400])
    code, resp = cluster.request("GET", f"/api/v1/pods?fieldSelector={quote(selector)}")
    if code != 200:
        _assert_status(code, resp, allowed=[400])


def test_huge_and_deep_bodies(cluster):
    before = _rv(cluster)
    huge = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
                       "data": {"k": "x" * (4 * 1024 * 1024)}}).encode()
    code, resp = cluster.request("POST", "/api/v1/namespaces/default/configmaps", huge)
    _assert_status(code, resp, allowed=[413])
    big = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"},
                      "data": {"k": "x" * (1024 * 1024 + 10)}}).encode()
    code, resp = cluster.request("POST", "/api/v1/namespaces/default/configmaps", big)
    _assert_status(code, resp, allowed=[422])
    deep = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":' + \
        b'{"a":' * 100000 + b'1' + b'}' * 100000 + b'}'
    code, resp = cluster.request("POST", "/api/v1/namespaces/default/configmaps", deep)
    _assert_status(code, resp, allowed=[400, 413])
    for ctype in ("application/yaml",):
        bomb = b'a: &a ["x","x"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nkind: ConfigMap\napiVersion: v1\n'
        code, resp = cluster.request("POST", "/api/v1/namespaces/default/configmaps", bomb,
                                     content_type=ctype)
        _assert_status(code, resp, allowed=[400])
    assert _rv(cluster) == before
    code, _ = cluster.request("GET", "/readyz")
    assert code == 200


def test_unauthenticated_requests_learn_nothing(cluster):
    for path in ("/api/v1/namespaces", "/version", "/apis", "/openapi/v3", "/api/v1/namespaces/default"):
        code, resp = cluster.request("GET", path, token="wrong")
        _assert_status(code, resp, allowed=[401])
        assert resp["message"] == "Unauthorized"
        code, resp = cluster.request("GET", path, token="")
        assert code == 401


def test_status_codes_for_common_failures(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}}
    assert cluster.request("POST", base, cm)[0] == 201
    code, resp = cluster.request("POST", base, cm)
    _assert_status(code, resp, allowed=[409]); assert resp["reason"] == "AlreadyExists"
    code, resp = cluster.request("GET", base + "/nope")
    _assert_status(code, resp, allowed=[404]); assert resp["reason"] == "NotFound"
    stale = dict(cm, metadata={"name": "c", "resourceVersion": "1"})
    code, resp = cluster.request("PUT", base + "/c", stale)
    _assert_status(code, resp, allowed=[409]); assert resp["reason"] == "Conflict"
    code, resp = cluster.request("POST", base, dict(cm, metadata={"name": "Bad_Name"}))
    _assert_status(code, resp, allowed=[422]); assert resp["reason"] == "Invalid"
    assert resp["details"]["causes"][0]["field"] == "metadata.name"
    code, resp = cluster.request("PATCH", base + "/c", b"{}", content_type="text/plain")
    _assert_status(code, resp, allowed=[415])
    code, resp = cluster.request("PUT", base, cm)
    _assert_status(code, resp, allowed=[405])


def test_duplicate_fields_by_validation_mode(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    body = b'{"metadata":{"name":"dup","name":"dup2"},"data":{"a":"1","a":"2"}}'  # kind defaulted
    code, resp = cluster.request("POST", base + "?fieldValidation=Strict", body)
    assert code == 400, resp
    assert 'duplicate field "metadata.name"' in resp["message"]
    assert 'duplicate field "data.a"' in resp["message"]
    code, resp = cluster.request("GET", base + "/dup2")
    assert code == 404
    import urllib.request
    req = urllib.request.Request(cluster.url + base + "?fieldValidation=Warn", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {cluster.token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=cluster.context()) as r:
        assert r.status == 201
        warnings = r.headers.get_all("Warning")
    assert any('duplicate field \\"metadata.name\\"' in w for w in warnings), warnings
