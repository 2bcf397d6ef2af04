"""OpenAPI documents: structure rules, and the real kubectl reading them from a tiny server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from typing import Any, Iterator

import pytest
import yaml

from kubeproc.api import resources
from kubeproc.api.resources import RESOURCES, Resource
from kubeproc.apiserver import openapi, openapi_http, openapi_v2pb

SCHEMA_PREFIX = "#/components/schemas/"


def _doc(res: Resource) -> dict[str, Any]:
    return json.loads(openapi.v3_document(res.group, res.version))


def _base(res: Resource) -> str:
    prefix = f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"
    ns = "/namespaces/{namespace}" if res.namespaced else ""
    return f"{prefix}{ns}/{res.plural}"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


# ---- paths ----------------------------------------------------------------------------------

_COLLECTION_VERBS = {"list": "get", "create": "post", "deletecollection": "delete"}
_ITEM_VERBS = {"get": "get", "update": "put", "patch": "patch", "delete": "delete"}


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: f"verbs-become-methods-{r.plural}")
def test_resource_paths_follow_verbs(res: Resource) -> None:
    paths = _doc(res)["paths"]
    coll = paths.get(_base(res), {})
    item = paths.get(_base(res) + "/{name}", {})
    assert {m for v, m in _COLLECTION_VERBS.items() if v in res.verbs} == \
        {m for m in coll if m != "parameters"}
    assert {m for v, m in _ITEM_VERBS.items() if v in res.verbs} == \
        {m for m in item if m != "parameters"}
    if res.namespaced and "list" in res.verbs:
        prefix = _base(res).split("/namespaces/")[0]
        assert paths[f"{prefix}/{res.plural}"]["get"]["x-kubernetes-action"] == "list"
    if "watch" in res.verbs:
        watch = _base(res).replace(f"/{res.version}/", f"/{res.version}/watch/", 1)
        assert paths[watch]["get"]["x-kubernetes-action"] == "watchlist"
        assert paths[watch + "/{name}"]["get"]["x-kubernetes-action"] == "watch"


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: f"gvk-on-every-op-{r.plural}")
def test_every_operation_names_its_kind(res: Resource) -> None:
    paths = _doc(res)["paths"]
    want = {"group": res.group, "version": res.version, "kind": res.kind}
    for path in (_base(res), _base(res) + "/{name}"):
        for method, body in paths.get(path, {}).items():
            if method != "parameters":
                assert body["x-kubernetes-group-version-kind"] == want, (path, method)
                assert body["x-kubernetes-action"]


@pytest.mark.parametrize("res", [r for r in RESOURCES if r.subresources],
                         ids=lambda r: f"subresource-paths-{r.plural}")
def test_subresource_paths(res: Resource) -> None:
    paths = _doc(res)["paths"]
    for sub, kind in res.subresources.items():
        if sub in ("exec", "attach", "portforward"):  # connect streams: no OpenAPI entry
            assert f"{_base(res)}/{{name}}/{sub}" not in paths
            continue
        ops = paths[f"{_base(res)}/{{name}}/{sub}"]
        if sub in ("status", "scale"):
            assert {"get", "put", "patch"} <= set(ops)
            assert ops["patch"]["x-kubernetes-group-version-kind"]["kind"] == (kind or res.kind)
    if "scale" in res.subresources:
        scale = paths[f"{_base(res)}/{{name}}/scale"]["get"]
        assert scale["x-kubernetes-group-version-kind"] == {
            "group": "autoscaling", "version": "v1", "kind": "Scale"}


_PATCHABLE = sorted({(r.group, r.version) for r in RESOURCES if "patch" in r.verbs})


@pytest.mark.parametrize("group,version", _PATCHABLE,
                         ids=[f"patch-ops-take-fieldValidation-{g or 'core'}/{v}"
                              for g, v in _PATCHABLE])
def test_every_patch_accepts_field_validation_and_patch_types(group: str, version: str) -> None:
    # cli-runtime queryParamVerifierV3 stops at the first PATCH with the GVK: all must pass.
    paths = json.loads(openapi.v3_document(group, version))["paths"]
    patches = [p["patch"] for p in paths.values() if "patch" in p]
    assert patches
    for patch in patches:
        names = {p["name"] for p in patch["parameters"] if p["in"] == "query"}
        assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= names
        assert set(patch["requestBody"]["content"]) == {
            "application/json-patch+json", "application/merge-patch+json",
            "application/strategic-merge-patch+json", "application/apply-patch+yaml"}


@pytest.mark.parametrize("path", openapi.v3_paths(), ids=lambda p: f"refs-resolve-{p}")
def test_every_ref_resolves_inside_its_document(path: str) -> None:
    data = openapi.v3_document_for_path(path)
    assert data is not None
    doc = json.loads(data)
    schemas = doc["components"]["schemas"]
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        assert ref.startswith(SCHEMA_PREFIX) and ref[len(SCHEMA_PREFIX):] in schemas, ref
    assert doc["openapi"] == "3.0.0"


def test_v2_refs_resolve_and_ops_have_gvk() -> None:
    doc = json.loads(openapi.v2_document())
    assert doc["swagger"] == "2.0"
    for ref in set(_refs(doc)):
        assert ref.removeprefix("#/definitions/") in doc["definitions"], ref
    ids = [o["operationId"] for p in doc["paths"].values() for m, o in p.items()
           if m != "parameters"]
    assert len(ids) == len(set(ids))  # operation ids are unique, as upstream's
    assert "patchAppsV1NamespacedStatefulSetScale" in ids and "listCoreV1PodForAllNamespaces" in ids
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/statefulsets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "StatefulSet"


# ---- schemas --------------------------------------------------------------------------------

_APPS = "io.k8s.api.apps.v1."


@pytest.mark.parametrize("name,prop,want", [
    pytest.param(_APPS + "StatefulSetSpec", "selector",
                 {"allOf": [{"$ref": SCHEMA_PREFIX + "io.k8s.apimachinery.pkg.apis.meta.v1."
                                     "LabelSelector"}]}, id="ref-with-siblings-becomes-allOf"),
    pytest.param(_APPS + "StatefulSetSpec", "volumeClaimTemplates",
                 {"items": {"allOf": [{"$ref": SCHEMA_PREFIX + "io.k8s.api.core.v1."
                                       "PersistentVolumeClaim"}], "default": {}}},
                 id="array-element-ref-allOf-default"),
    pytest.param(_APPS + "StatefulSet", "metadata", {"default": {}}, id="metadata-default"),
    pytest.param("io.k8s.api.core.v1.PodSpec", "containers",
                 {"x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge",
                  "x-kubernetes-list-type": "map"}, id="patch-metadata-kept"),
])
def test_v3_schema_shape(name: str, prop: str, want: dict[str, Any]) -> None:
    schemas = json.loads(openapi.v3_document_for_path(
        "api/v1" if ".core." in name else "apis/apps/v1") or b"{}")["components"]["schemas"]
    got = schemas[name]["properties"][prop]
    assert {k: got.get(k) for k in want} == want


def test_kind_schemas_keep_gvk_extension() -> None:
    schemas = json.loads(openapi.v3_document("apps", "v1"))["components"]["schemas"]
    assert schemas[_APPS + "StatefulSet"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "StatefulSet", "version": "v1"}]
    for meta in ("Status", "DeleteOptions", "WatchEvent", "APIResourceList", "Patch"):
        assert "io.k8s.apimachinery.pkg.apis.meta.v1." + meta in schemas


# ---- index ----------------------------------------------------------------------------------

def test_index_pins_each_document_by_its_sha512() -> None:
    index = openapi.v3_index()["paths"]
    assert {"api", "api/v1", "apis", "apis/apps", "apis/apps/v1", "version"} <= set(index)
    for g, v in resources.group_versions():
        assert (f"apis/{g}/{v}" if g else f"api/{v}") in index
    url = index["apis/apps/v1"]["serverRelativeURL"]
    digest = url.split("?hash=")[1]
    assert re.fullmatch(r"[0-9A-F]{128}", digest)
    assert url == "/openapi/v3/apis/apps/v1?hash=" + openapi.etag(openapi.v3_document("apps", "v1"))


def test_v3_schemas_do_not_touch_shared_definitions() -> None:
    schemas = json.loads(openapi.v3_document("apps", "v1"))["components"]["schemas"]
    int_or_string = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    assert schemas[int_or_string]["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "type" not in schemas[int_or_string]
    from kubeproc.api import schema
    assert schema.definitions(SCHEMA_PREFIX)[int_or_string]["type"] == "string"
    assert "allOf" not in json.dumps(schema.definitions(SCHEMA_PREFIX)[_APPS + "StatefulSetSpec"])


def test_unknown_document_is_none() -> None:
    assert openapi.v3_document_for_path("apis/batch/v1") is None
    assert openapi.v3_document_for_path("apis/apps/v9") is None


# ---- HTTP semantics (kube-openapi handler3 / handler) ---------------------------------------

_APPS_DIGEST = openapi.etag(openapi.v3_document("apps", "v1"))


@pytest.mark.parametrize("hash_param,accept,status", [
    pytest.param(None, "application/json", 200, id="json-unpinned"),
    pytest.param(None, None, 200, id="no-accept-means-any"),
    pytest.param(_APPS_DIGEST, "application/json", 200, id="current-hash"),
    pytest.param("0BAD", "application/json", 301, id="stale-hash-redirects"),
    pytest.param(None, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf", 406,
                 id="protobuf-only-not-acceptable"),
    pytest.param(None, "application/com.github.proto-openapi.spec.v3@v1.0+protobuf, */*;q=0.5",
                 200, id="protobuf-then-any-gets-json"),
])
def test_v3_document_reply(hash_param: str | None, accept: str | None, status: int) -> None:
    reply = openapi_http.v3_document("apis/apps/v1", hash_param, accept)
    assert reply.status == status
    if status == 200:
        assert reply.headers["Etag"] == f'"{_APPS_DIGEST}"'
        assert reply.headers["Content-Type"] == "application/json"
        assert reply.body == openapi.v3_document("apps", "v1")
        assert ("Cache-Control" in reply.headers) == (hash_param is not None)
    if status == 301:
        assert reply.headers["Location"] == "/openapi/v3/apis/apps/v1?hash=" + _APPS_DIGEST


def test_v3_reply_conditional_and_unknown() -> None:
    tag = f'"{_APPS_DIGEST}"'
    assert openapi_http.v3_document("apis/apps/v1", None, "application/json", tag).status == 304
    assert openapi_http.v3_document("apis/batch/v1", None, "application/json").status == 404
    index = openapi_http.v3_index()
    assert index.headers["Etag"] == f'"{openapi.etag(index.body)}"'
    assert json.loads(index.body) == openapi.v3_index()


PB = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"  # what client-go asks for
PB_REPLY = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # what upstream answers


@pytest.mark.parametrize("accept,status,content_type", [
    pytest.param(PB, 200, PB_REPLY, id="client-go-protobuf"),
    pytest.param(PB_REPLY, 200, PB_REPLY, id="dotted-protobuf"),
    pytest.param("application/json", 200, "application/json", id="json"),
    pytest.param(f"{PB}, application/json;q=0.5", 200, PB_REPLY, id="protobuf-preferred"),
    pytest.param(f"application/json, {PB}", 200, "application/json", id="json-first"),
    pytest.param("*/*", 200, "application/json", id="anything-json"),
    pytest.param("text/html", 406, None, id="neither-406"),
])
def test_v2_reply(accept: str, status: int, content_type: str | None) -> None:
    reply = openapi_http.v2_document(accept)
    assert reply.status == status
    if content_type:
        assert reply.headers["Content-Type"] == content_type
        assert reply.headers["Etag"] == f'"{openapi.etag(reply.body)}"'


def _fields(data: bytes) -> list[tuple[int, Any]]:
    """A generic protobuf wire reader: (field, value) in order; LEN values stay bytes."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        n = shift = 0
        while True:
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n
    while i < len(data):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
        elif wire == 1:
            out.append((field, struct.unpack("<d", data[i:i + 8])[0]))
            i += 8
        elif wire == 2:
            n = varint()
            out.append((field, data[i:i + n]))
            i += n
        else:
            raise AssertionError(f"wire type {wire}")
    return out


def _named(data: bytes) -> tuple[str, bytes]:
    f = dict(_fields(data))
    return f[1].decode(), f.get(2, b"")


def test_v2_protobuf_carries_the_definitions_kubectl_reads() -> None:
    doc = dict(_fields(openapi_v2pb.encode(openapi.v2_document())))
    assert doc[1] == b"2.0"
    assert dict(_fields(doc[2]))[1] == b"Kubernetes"  # info.title
    defs = dict(_named(v) for _, v in _fields(doc[9]))
    assert set(defs) == set(json.loads(openapi.v2_document())["definitions"])
    pod = _fields(defs["io.k8s.api.core.v1.Pod"])
    ext = dict(_named(v) for f, v in pod if f == 31)  # vendor extensions, as YAML text
    gvk = dict(_fields(ext["x-kubernetes-group-version-kind"]))[2]
    assert yaml.safe_load(gvk) == [{"group": "", "kind": "Pod", "version": "v1"}]
    props = dict(_named(v) for _, v in _fields(dict(pod)[25]))
    assert dict(_fields(props["spec"]))[1] == b"#/definitions/io.k8s.api.core.v1.PodSpec"


def test_v2_protobuf_schema_keywords() -> None:
    s = {"type": "object", "required": ["a"], "description": "d",
         "properties": {"a": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                        "b": {"type": "string", "enum": ["x", "y"], "default": "x"}},
         "additionalProperties": False, "minimum": 1.5, "maxLength": 3, "x-kubernetes-list-type": "map"}
    f = _fields(openapi_v2pb.schema(s))
    by = dict(f)
    assert dict(_fields(by[22]))[1] == b"object" and by[19] == b"a" and by[4] == b"d"
    assert by[9] == 1.5 and by[11] == 3
    assert _fields(by[21]) == [(2, 0)]  # additionalProperties: false is written
    props = dict(_named(v) for _, v in _fields(by[25]))
    items = dict(_fields(dict(_fields(props["a"]))[23]))[1]
    assert dict(_fields(items))[2] == b"int32"
    enum = [dict(_fields(v))[2] for fld, v in _fields(props["b"]) if fld == 20]
    assert [yaml.safe_load(e) for e in enum] == ["x", "y"]
    (name, value), = [_named(v) for fld, v in f if fld == 31]
    assert name == "x-kubernetes-list-type" and yaml.safe_load(dict(_fields(value))[2]) == "map"


# ---- the real kubectl against a tiny server -------------------------------------------------

def _kubectl(version: str) -> str | None:
    found = shutil.which("kubectl")
    if not found:
        return None
    path = os.path.join(os.path.dirname(os.path.realpath(found)), f"kubectl.{version}")
    return path if os.access(path, os.X_OK) else None


def _resource_list(group: str, version: str) -> dict[str, Any]:
    out = []
    for r in RESOURCES:
        if (r.group, r.version) != (group, version):
            continue
        out.append({"name": r.plural, "singularName": r.singular_name, "namespaced": r.namespaced,
                    "kind": r.kind, "verbs": list(r.verbs), "shortNames": list(r.short_names),
                    "categories": list(r.categories)})
        for sub, kind in r.subresources.items():
            entry = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
                     "kind": kind or r.kind, "verbs": ["get", "patch", "update"]}
            if sub == "scale":
                entry.update(group="autoscaling", version="v1")
            out.append(entry)
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{group}/{version}" if group else version, "resources": out}


class FakeServer:
    """/version, legacy discovery, OpenAPI from `openapi`, and a toy object store."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str, str]] = []  # method, path?query, accept, ctype
        self.bodies: list[bytes] = []
        self.objects: dict[str, dict[str, Any]] = {}
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "FakeServer":
        self._thread.start()
        assert self._ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        from aiohttp import web

        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    async def _handle(self, request: Any) -> Any:
        from aiohttp import web

        accept = request.headers.get("Accept", "")
        body = await request.read()
        self.requests.append((request.method, request.path_qs, accept,
                              request.headers.get("Content-Type", "")))
        self.bodies.append(body)
        path = request.path.rstrip("/")

        def ok(obj: Any, status: int = 200) -> Any:
            return web.json_response(obj, status=status)

        if path == "/version":
            return ok({"major": "1", "minor": "33", "gitVersion": "v1.33.0",
                       "platform": "linux/amd64"})
        if path == "/api":
            return ok({"kind": "APIVersions", "versions": ["v1"],
                       "serverAddressByClientCIDRs": []})
        if path == "/apis":
            groups = [{"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v}],
                       "preferredVersion": {"groupVersion": f"{g}/{v}", "version": v}}
                      for g, v in resources.group_versions() if g]
            return ok({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if path == "/api/v1":
            return ok(_resource_list("", "v1"))
        if path.startswith("/apis/") and path.count("/") == 3:
            _, _, g, v = path.split("/")
            if (g, v) in resources.group_versions():
                return ok(_resource_list(g, v))
        if path.startswith("/openapi/"):
            if path == "/openapi/v3":
                reply = openapi_http.v3_index(request.headers.get("If-None-Match"))
            elif path == "/openapi/v2":
                reply = openapi_http.v2_document(accept)
            else:
                reply = openapi_http.v3_document(path.removeprefix("/openapi/v3/"),
                                                 request.query.get("hash"), accept)
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        return self._objects(request.method, path, body)

    def _objects(self, method: str, path: str, body: bytes) -> Any:
        from aiohttp import web

        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                  "reason": "NotFound", "message": "not found"}
        if method == "GET":
            if path in self.objects:
                return web.json_response(self.objects[path])
            return web.json_response(status, status=404)
        if method == "POST":
            obj = json.loads(body)
            self.objects[f"{path}/{obj['metadata']['name']}"] = obj
            return web.json_response(obj, status=201)
        if method == "PATCH" and path in self.objects:
            return web.json_response(self.objects[path])
        return web.json_response(status, status=404)


def _run(kubectl: str, port: int, home: str, *args: str, stdin: str = "") -> \
        subprocess.CompletedProcess[str]:
    env = {"HOME": home, "PATH": os.environ.get("PATH", ""), "KUBECONFIG": "/dev/null"}
    return subprocess.run([kubectl, "--server", f"http://127.0.0.1:{port}", *args], input=stdin,
                          capture_output=True, text=True, env=env, timeout=120)


_VERSIONS = ["1.31", "1.32", "1.33"]


@pytest.mark.parametrize("version", _VERSIONS, ids=lambda v: f"kubectl-{v}-explain-from-v3")
def test_kubectl_explain_statefulset_spec(version: str, tmp_path: Any) -> None:
    kubectl = _kubectl(version)
    if kubectl is None:
        pytest.skip(f"kubectl.{version} not installed")
    with FakeServer() as srv:
        out = _run(kubectl, srv.port, str(tmp_path), "explain", "statefulset.spec")
    assert out.returncode == 0, out.stderr
    for line in ("GROUP:      apps", "KIND:       StatefulSet", "VERSION:    v1",
                 "FIELD: spec <StatefulSetSpec>", "podManagementPolicy\t<string>",
                 "serviceName\t<string>", "volumeClaimTemplates\t<[]PersistentVolumeClaim>",
                 "selector\t<LabelSelector> -required-", "template\t<PodTemplateSpec> -required-"):
        assert line in out.stdout, out.stdout
    fetched = [p for m, p, _, _ in srv.requests if p.startswith("/openapi/v3/apis/apps/v1")]
    assert fetched and "hash=" in fetched[0]
    assert not [p for _, p, _, _ in srv.requests if p.startswith("/openapi/v2")]


_STS = """apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web, namespace: default}
spec:
  serviceName: web
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: %s}]}
"""


@pytest.mark.parametrize("version", _VERSIONS, ids=lambda v: f"kubectl-{v}-strict-is-server-side")
def test_kubectl_create_sends_field_validation(version: str, tmp_path: Any) -> None:
    # QueryParamVerifierV3 finds fieldValidation on the PATCH op, so kubectl asks the server
    # to validate instead of downloading the protobuf /openapi/v2.
    kubectl = _kubectl(version)
    if kubectl is None:
        pytest.skip(f"kubectl.{version} not installed")
    with FakeServer() as srv:
        out = _run(kubectl, srv.port, str(tmp_path), "create", "-f", "-", "--validate=strict",
                   stdin=_STS % "nginx")
    assert out.returncode == 0, out.stderr
    posts = [p for m, p, _, _ in srv.requests if m == "POST"]
    assert posts == ["/apis/apps/v1/namespaces/default/statefulsets?fieldManager=kubectl-create"
                     "&fieldValidation=Strict"]
    assert not [p for _, p, _, _ in srv.requests if p.startswith("/openapi/v2")]


@pytest.mark.parametrize("version", _VERSIONS, ids=lambda v: f"kubectl-{v}-apply-smp-from-v3")
def test_kubectl_apply_builds_strategic_merge_patch_from_v3(version: str, tmp_path: Any) -> None:
    kubectl = _kubectl(version)
    if kubectl is None:
        pytest.skip(f"kubectl.{version} not installed")
    with FakeServer() as srv:
        first = _run(kubectl, srv.port, str(tmp_path), "apply", "-f", "-", stdin=_STS % "nginx")
        assert first.returncode == 0, first.stderr
        second = _run(kubectl, srv.port, str(tmp_path), "apply", "-f", "-",
                      stdin=_STS % "nginx:2")
    assert second.returncode == 0, second.stderr
    patches = [(i, r) for i, r in enumerate(srv.requests) if r[0] == "PATCH"]
    assert len(patches) == 1
    index, (_, path, _, ctype) = patches[0]
    assert path.startswith("/apis/apps/v1/namespaces/default/statefulsets/web?")
    assert ctype == "application/strategic-merge-patch+json"
    patch = json.loads(srv.bodies[index])
    # the containers list is merged by name: the patch carries the $setElementOrder directive
    assert patch["spec"]["template"]["spec"]["$setElementOrder/containers"] == [{"name": "c"}]
    assert patch["spec"]["template"]["spec"]["containers"] == [{"image": "nginx:2", "name": "c"}]
    assert not [p for _, p, _, _ in srv.requests if p.startswith("/openapi/v2")]
