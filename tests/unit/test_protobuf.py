"""Tests for kubeproc.apiserver.protobuf: decoding Kubernetes protobuf request bodies.

Golden files under golden/protobuf/ are real request bodies: `*.bin` was sent by kubectl 1.33
(byte-identical to 1.32) and `*.json` by kubectl 1.31 for the same command (1.31 still sends
JSON), so decode(bin) == json proves we read the wire exactly as kubectl writes it.
"""

from __future__ import annotations

import json
import pathlib
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeproc.api import errors, schema
from kubeproc.apiserver import protobuf as pb
from kubeproc.apiserver.protobuf_messages import KINDS, MESSAGES

GOLDEN = pathlib.Path(__file__).parent / "golden" / "protobuf"
GOLDEN_NAMES = sorted(p.stem for p in GOLDEN.glob("*.bin"))


# --- a tiny protobuf writer, enough to build test bodies by hand --------------------------
def varint(n: int) -> bytes:
    n &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def vi(num: int, value: int) -> bytes:
    return varint(num << 3) + varint(value)


def ld(num: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return varint(num << 3 | 2) + varint(len(data)) + data


def envelope(api_version: str, kind: str, raw: bytes, *extra: bytes) -> bytes:
    type_meta = ld(1, api_version) + ld(2, kind)
    return pb.MAGIC + ld(1, type_meta) + ld(2, raw) + b"".join(extra)


def encode(message: str, obj: dict[str, Any]) -> bytes:
    """Write `obj` (JSON form) as `message` using the decoder's tables: only keys present."""
    out = bytearray()
    for num, f in pb.table(message).items():
        if f.mode == "^":
            out += ld(num, encode(f.type, obj))
            continue
        if f.name not in obj or obj[f.name] is None:
            continue
        value = obj[f.name]
        if f.is_map:
            for k, v in value.items():
                out += ld(num, ld(1, k) + _encode_one(2, f.type, v))
        elif f.repeated:
            for v in value:
                out += _encode_one(num, f.type, v)
        else:
            out += _encode_one(num, f.type, value)
    return bytes(out)


def _encode_one(num: int, typ: str, v: Any) -> bytes:
    import base64
    import datetime

    if typ in ("i", "b"):
        return vi(num, int(v))
    if typ == "s":
        return ld(num, v)
    if typ == "y":
        return ld(num, base64.b64decode(v))
    if typ == "Quantity":
        return ld(num, ld(1, v))
    if typ == "IntOrString":
        return ld(num, vi(1, 1) + ld(3, v) if isinstance(v, str) else vi(1, 0) + vi(2, v))
    if typ in ("Time", "MicroTime"):
        moment = datetime.datetime.fromisoformat(v.replace("Z", "+00:00"))
        return ld(num, vi(1, int(moment.timestamp())) + vi(2, moment.microsecond * 1000))
    if typ == "StringList":
        return ld(num, b"".join(ld(1, s) for s in v))
    return ld(num, encode(typ, v))


# --- golden bodies from real kubectl ---------------------------------------------------------
@pytest.mark.parametrize("name", GOLDEN_NAMES, ids=GOLDEN_NAMES)
def test_real_kubectl_body_decodes_to_its_json_twin(name: str) -> None:
    body = (GOLDEN / f"{name}.bin").read_bytes()
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    assert pb.decode(body) == expected


def test_goldens_cover_the_required_commands() -> None:
    required = {"namespace", "configmap", "secret", "deployment", "service", "poddisruptionbudget"}
    assert required <= set(GOLDEN_NAMES)


# --- table integrity and completeness ---------------------------------------------------------
def test_every_referenced_type_has_a_table() -> None:
    for message in MESSAGES:
        for f in pb.table(message).values():
            assert f.type in pb.SCALARS or f.type in MESSAGES or f.type in pb._SPECIALS, (
                f"{message}.{f.name}: {f.type}")
            assert f.mode in "!?*^", f"{message}.{f.name}"
    assert set(KINDS.values()) <= set(MESSAGES)


def test_tables_are_acyclic_so_hostile_input_cannot_recurse() -> None:
    # Only RawExtension nests objects, and it counts depth; the tables themselves must not loop.
    def visit(message: str, path: tuple[str, ...]) -> None:
        assert message not in path, " -> ".join(path + (message,))
        for f in pb.table(message).values():
            if f.type in MESSAGES:
                visit(f.type, path + (message,))

    for message in set(KINDS.values()):
        visit(message, ())


# Fields newer than the Kubernetes 1.33 OpenAPI (tables follow upstream HEAD); harmless extras.
NEWER_THAN_1_33 = {
    "ClusterTrustBundleProjection.user", "ConfigMapVolumeSource.defaultUser",
    "Container.restartPolicyRules", "DownwardAPIVolumeFile.user",
    "DownwardAPIVolumeSource.defaultUser", "EmptyDirVolumeSource.mode", "EnvVarSource.fileKeyRef",
    "EphemeralContainer.restartPolicyRules", "GRPCAction.mode", "HTTPGetAction.protocol",
    "JobSpec.scheduling", "KeyToPath.user", "PodSpec.evictionResponders",
    "PodSpec.hostnameOverride", "PodSpec.schedulingGroup", "PodStatus.allocatedResources",
    "PodStatus.extendedResourceClaimStatus", "PodStatus.nodeAllocatableResourceClaimStatuses",
    "PodStatus.resources", "PodStatus.volumeHealth", "ProjectedVolumeSource.defaultUser",
    "ResourceHealth.message", "SecretVolumeSource.defaultUser", "ServiceAccountTokenProjection.user",
    "TokenRequestSpec.attestations", "VolumeMount.bindMountOptions",
    "VolumeMountStatus.volumeStatus", "VolumeProjection.podCertificate",
}


def _json_fields(message: str) -> dict[str, pb.Field]:
    out: dict[str, pb.Field] = {}
    for f in pb.table(message).values():
        out.update(_json_fields(f.type) if f.mode == "^" else {f.name: f})
    return out


def _compare_with_openapi(message: str, sch: dict[str, Any], extra: set[str],
                          missing: set[str], seen: set[str]) -> None:
    if message in seen:
        return
    seen.add(message)
    props = set(schema.resolve(sch).get("properties", {}))
    fields = _json_fields(message)
    extra.update(f"{message}.{n}" for n in set(fields) - props)
    missing.update(f"{message}.{n}" for n in props - set(fields)
                   - {"apiVersion", "kind", "managedFields"})
    for name, f in fields.items():
        if name not in props or f.type in pb.SCALARS or f.type in pb._SPECIALS:
            continue
        sub = schema.child(sch, name)
        sub = schema.items(sub) if f.repeated else schema.child(sub, "*") if f.is_map else sub
        _compare_with_openapi(f.type, sub or {}, extra, missing, seen)


@pytest.mark.parametrize("api_version,kind", sorted(KINDS), ids=[k for _, k in sorted(KINDS)])
def test_tables_match_the_official_openapi_field_names(api_version: str, kind: str) -> None:
    group, _, version = api_version.rpartition("/")
    if api_version == "*":
        group, version = "", "v1"  # DeleteOptions is registered in every group; core is one
    name = schema.definition_name(group, version, kind)
    assert name, kind
    extra: set[str] = set()
    missing: set[str] = set()
    _compare_with_openapi(KINDS[(api_version, kind)], schema.get(name), extra, missing, set())
    assert missing == set(), "fields a user can set would be lost"
    assert extra <= NEWER_THAN_1_33, "a JSON name differs from upstream"


# --- decoding rules ------------------------------------------------------------------------------
def _pod(spec_bytes: bytes) -> dict[str, Any]:
    return pb.decode(envelope("v1", "Pod", ld(2, spec_bytes)))["spec"]


CONTAINER_PORT_80 = ld(1, "c") + ld(6, vi(3, 80))
RULES = [
    # (id, PodSpec bytes, key, expected spec[key]) — PodSpec fields per core/v1 generated.proto
    ("pointer-int-zero-kept", vi(4, 0), "terminationGracePeriodSeconds", 0),
    ("omitempty-string-dropped", ld(3, ""), "restartPolicy", None),
    ("omitempty-bool-false-dropped", vi(11, 0), "hostNetwork", None),
    ("bool-true", vi(11, 1), "hostNetwork", True),
    ("negative-int64", vi(5, -5), "activeDeadlineSeconds", -5),
    ("nil-slice-without-omitempty-is-null", b"", "containers", None),
    ("repeated-message", ld(2, ld(1, "a")) + ld(2, ld(1, "b")), "containers",
     [{"name": "a", "resources": {}}, {"name": "b", "resources": {}}]),
    ("non-omitempty-int-defaults-to-zero", ld(2, ld(1, "c") + ld(6, b"")), "containers",
     [{"name": "c", "ports": [{"containerPort": 0}], "resources": {}}]),
    ("map-of-strings", ld(7, ld(1, "disk") + ld(2, "ssd")), "nodeSelector", {"disk": "ssd"}),
    ("map-of-quantities", ld(32, ld(1, "cpu") + ld(2, ld(1, "250m"))), "overhead", {"cpu": "250m"}),
    ("last-scalar-wins", ld(8, "a") + ld(8, "b"), "serviceAccountName", "b"),
    ("unknown-field-skipped", ld(999, "x") + vi(998, 1) + ld(8, "sa"), "serviceAccountName", "sa"),
    ("packed-repeated-int64", ld(14, ld(4, varint(5) + varint(6))), "securityContext",
     {"supplementalGroups": [5, 6]}),
    ("unpacked-repeated-int64", ld(14, vi(4, 5) + vi(4, 6)), "securityContext",
     {"supplementalGroups": [5, 6]}),
    ("split-message-merges", ld(14, vi(2, 7)) + ld(14, vi(3, 1)), "securityContext",
     {"runAsUser": 7, "runAsNonRoot": True}),
    ("inline-volume-source", ld(1, ld(1, "v") + ld(2, ld(2, b""))), "volumes",
     [{"name": "v", "emptyDir": {}}]),
    ("inline-volume-source-configmap",
     ld(1, ld(1, "v") + ld(2, ld(19, ld(1, ld(1, "cm")) + vi(3, 0o644)))), "volumes",
     [{"name": "v", "configMap": {"name": "cm", "defaultMode": 420}}]),
    ("hostpath-and-pvc", ld(1, ld(1, "h") + ld(2, ld(1, ld(1, "/d")))) + ld(
        1, ld(1, "p") + ld(2, ld(10, ld(1, "claim") + vi(2, 1)))), "volumes",
     [{"name": "h", "hostPath": {"path": "/d"}},
      {"name": "p", "persistentVolumeClaim": {"claimName": "claim", "readOnly": True}}]),
]


@pytest.mark.parametrize("spec_bytes,key,expected", [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_pod_spec_rules(spec_bytes: bytes, key: str, expected: Any) -> None:
    assert _pod(spec_bytes).get(key) == expected


PROBE = ld(1, ld(2, ld(2, vi(1, 1) + ld(3, "http")) + ld(1, "/healthz"))) + vi(2, 3)
SPECIAL_CASES = [
    # (id, Container bytes, key, expected container[key])
    ("intorstring-named-port", ld(10, PROBE), "livenessProbe",
     {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 3}),
    ("intorstring-number", ld(10, ld(1, ld(3, ld(1, vi(1, 0) + vi(2, 8080))))), "livenessProbe",
     {"tcpSocket": {"port": 8080}}),
    ("resources-quantities", ld(8, ld(1, ld(1, "memory") + ld(2, ld(1, "1Gi")))), "resources",
     {"limits": {"memory": "1Gi"}}),
    ("env-value-from-secret",
     ld(7, ld(1, "P") + ld(3, ld(4, ld(1, ld(1, "s")) + ld(2, "k")))), "env",
     [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
    ("env-from-configmap", ld(19, ld(1, "X_") + ld(2, ld(1, ld(1, "cm")))), "envFrom",
     [{"prefix": "X_", "configMapRef": {"name": "cm"}}]),
    ("repeated-strings", ld(3, "sh") + ld(3, "-c"), "command", ["sh", "-c"]),
]


@pytest.mark.parametrize("container,key,expected", [c[1:] for c in SPECIAL_CASES],
                         ids=[c[0] for c in SPECIAL_CASES])
def test_container_special_types(container: bytes, key: str, expected: Any) -> None:
    spec = _pod(ld(2, ld(1, "c") + container))
    assert spec["containers"][0][key] == expected


def _meta(meta: bytes) -> dict[str, Any]:
    return pb.decode(envelope("v1", "ConfigMap", ld(1, meta)))["metadata"]


TIME_CASES = [
    ("time-rfc3339", ld(9, vi(1, 1767323045)), "deletionTimestamp", "2026-01-02T03:04:05Z"),
    ("time-drops-nanos", ld(9, vi(1, 1767323045) + vi(2, 5)), "deletionTimestamp",
     "2026-01-02T03:04:05Z"),
    ("zero-time-is-null", ld(8, b""), "creationTimestamp", None),
    ("absent-time-is-null", b"", "creationTimestamp", None),
    ("epoch-is-not-zero", ld(8, vi(1, 0) + vi(2, 0) + b"\x08\x00"), "creationTimestamp",
     "1970-01-01T00:00:00Z"),
    ("owner-references", ld(13, ld(1, "ReplicaSet") + ld(3, "rs") + ld(4, "u") + ld(5, "apps/v1")
                            + vi(6, 1)), "ownerReferences",
     [{"kind": "ReplicaSet", "name": "rs", "uid": "u", "apiVersion": "apps/v1",
       "controller": True}]),
    ("invalid-utf8-replaced", ld(1, b"a\xffb"), "name", "a\ufffdb"),
]


@pytest.mark.parametrize("meta,key,expected", [c[1:] for c in TIME_CASES],
                         ids=[c[0] for c in TIME_CASES])
def test_object_meta(meta: bytes, key: str, expected: Any) -> None:
    assert _meta(meta).get(key) == expected


def test_secret_bytes_become_base64() -> None:
    body = envelope("v1", "Secret", ld(2, ld(1, "k") + ld(2, b"\x00\xff")) + ld(3, "Opaque"))
    got = pb.decode(body)
    assert got["data"] == {"k": "AP8="} and got["type"] == "Opaque"


def test_micro_time_keeps_microseconds() -> None:
    assert pb._SPECIALS["MicroTime"](vi(1, 1767323045) + vi(2, 123456789), 0) == \
        "2026-01-02T03:04:05.123456Z"


@pytest.mark.parametrize("payload,expected", [
    (ld(1, b'{"a": [1]}'), {"a": [1]}),
    (b"", None),
    (ld(1, envelope("v1", "Namespace", ld(1, ld(1, "n")))),
     {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "n", "creationTimestamp": None},
      "spec": {}, "status": {}}),
], ids=["json", "empty-is-null", "nested-protobuf-object"])
def test_raw_extension(payload: bytes, expected: Any) -> None:
    assert pb._SPECIALS["RawExtension"](payload, 0) == expected


@pytest.mark.parametrize("nanos,text", [
    (0, "0s"), (1, "1ns"), (1500, "1.5µs"), (2_000_000, "2ms"), (1_500_000_000, "1.5s"),
    (90 * 10**9, "1m30s"), (3600 * 10**9, "1h0m0s"), (-(10**9), "-1s"),
], ids=["zero", "ns", "us", "ms", "fractional-seconds", "minutes", "hours", "negative"])
def test_go_duration(nanos: int, text: str) -> None:
    assert pb.go_duration(nanos) == text


def test_delete_options_any_group_version() -> None:
    raw = vi(1, 0) + ld(2, ld(1, "uid-1") + ld(2, "42")) + ld(4, "Foreground") + ld(5, "All")
    got = pb.decode(envelope("apps/v1", "DeleteOptions", raw))
    assert got == {"kind": "DeleteOptions", "apiVersion": "apps/v1", "gracePeriodSeconds": 0,
                   "preconditions": {"uid": "uid-1", "resourceVersion": "42"},
                   "propagationPolicy": "Foreground", "dryRun": ["All"]}


def test_eviction() -> None:
    raw = ld(1, ld(1, "p1") + ld(3, "default")) + ld(2, vi(1, 30))
    got = pb.decode(envelope("policy/v1", "Eviction", raw))
    assert got["metadata"]["name"] == "p1" and got["deleteOptions"] == {"gracePeriodSeconds": 30}


def _is_go_zero(v: Any) -> bool:
    if isinstance(v, dict):
        return all(_is_go_zero(x) for x in v.values())
    return v in (None, "", 0, False)


def _assert_contains(expected: Any, got: Any, path: str = "") -> None:
    """Every value of `expected` is in `got`; anything extra in `got` is a Go zero value."""
    if isinstance(expected, dict):
        assert isinstance(got, dict), path
        for k, v in got.items():
            if k in expected:
                _assert_contains(expected[k], v, f"{path}.{k}")
            else:
                assert _is_go_zero(v), f"{path}.{k}={v!r}"
        assert set(expected) <= set(got), (path, set(expected) - set(got))
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), path
        for i, (e, g) in enumerate(zip(expected, got)):
            _assert_contains(e, g, f"{path}[{i}]")
    else:
        assert got == expected, path


RICH_DEPLOYMENT = {
    "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"},
                 "annotations": {"a": "b"}, "finalizers": ["f"], "generation": 3},
    "spec": {
        "replicas": 0, "revisionHistoryLimit": 2, "paused": True,
        "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]}]},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "containers": [{
                "name": "nginx", "image": "nginx:1", "args": ["-g"], "workingDir": "/w",
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP", "hostPort": 8080}],
                "env": [{"name": "A", "value": "1"}, {"name": "POD", "valueFrom": {
                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {
                        "resource": "limits.cpu", "divisor": "1m"}}}],
                "resources": {"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}},
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
                "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 5,
                                   "failureThreshold": 2},
                "startupProbe": {"grpc": {"port": 9000, "service": "s"}},
                "lifecycle": {"preStop": {"sleep": {"seconds": 2}}},
                "securityContext": {"privileged": False, "runAsUser": 0,
                                    "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "imagePullPolicy": "Always", "stdin": True, "tty": True,
            }],
            "initContainers": [{"name": "init", "image": "busybox", "restartPolicy": "Always"}],
            "volumes": [
                {"name": "data", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                {"name": "sec", "secret": {"secretName": "s", "items": [
                    {"key": "k", "path": "p", "mode": 256}], "optional": True}},
                {"name": "dapi", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
                {"name": "proj", "projected": {"sources": [
                    {"serviceAccountToken": {"audience": "x", "expirationSeconds": 600,
                                             "path": "token"}},
                    {"configMap": {"name": "cm", "items": [{"key": "a", "path": "b"}]}}],
                    "defaultMode": 420}},
                {"name": "eph", "ephemeral": {"volumeClaimTemplate": {
                    "metadata": {"labels": {"x": "y"}},
                    "spec": {"accessModes": ["ReadWriteOnce"],
                             "resources": {"requests": {"storage": "1Gi"}}}}}},
            ],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["z1"]}]}]}},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                                                        "labelSelector": {"matchLabels": {"app": "web"}}}}]}},
            "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule",
                             "tolerationSeconds": 30}],
            "securityContext": {"fsGroup": 2000, "sysctls": [{"name": "n", "value": "v"}]},
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["h"]}],
            "dnsConfig": {"nameservers": ["1.1.1.1"], "options": [{"name": "ndots", "value": "2"}]},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                           "whenUnsatisfiable": "DoNotSchedule"}],
            "priority": 0, "enableServiceLinks": False, "os": {"name": "linux"},
        }},
    },
    "status": {"replicas": 1, "conditions": [
        {"type": "Available", "status": "True", "lastUpdateTime": "2026-01-02T03:04:05Z"}]},
}


def test_rich_deployment_round_trips_through_the_tables() -> None:
    got = pb.decode(envelope("apps/v1", "Deployment", encode("Deployment", RICH_DEPLOYMENT)))
    _assert_contains({"kind": "Deployment", "apiVersion": "apps/v1", **RICH_DEPLOYMENT}, got)
    # Pointer fields keep explicit zero/false values the user set.
    spec = got["spec"]["template"]["spec"]
    assert got["spec"]["replicas"] == 0 and spec["priority"] == 0
    assert spec["enableServiceLinks"] is False
    assert spec["containers"][0]["securityContext"]["privileged"] is False


# --- malformed input ---------------------------------------------------------------------------
BAD = [
    ("empty", b"", errors.BadRequest),
    ("bad-magic", b"k8s\x01" + ld(1, b""), errors.BadRequest),
    ("json-body", b'{"kind":"Namespace"}', errors.BadRequest),
    ("truncated-varint", pb.MAGIC + b"\x0a\x80", errors.BadRequest),
    ("length-past-end", pb.MAGIC + b"\x0a\x05ab", errors.BadRequest),
    ("varint-overflow", pb.MAGIC + b"\x08" + b"\xff" * 11, errors.BadRequest),
    ("field-zero", pb.MAGIC + b"\x02\x00", errors.BadRequest),
    ("group-wire-type", pb.MAGIC + b"\x0b", errors.BadRequest),
    ("no-kind", pb.MAGIC + ld(1, ld(1, "v1")), errors.BadRequest),
    ("wrong-wire-type", envelope("v1", "Pod", ld(2, vi(2, 1))), errors.BadRequest),
    ("string-sent-as-varint", envelope("v1", "Namespace", ld(1, vi(1, 5))), errors.BadRequest),
    ("time-out-of-range", envelope("v1", "Namespace", ld(1, ld(9, vi(1, 10**15)))),
     errors.BadRequest),
    ("intorstring-bad-type", envelope("policy/v1", "PodDisruptionBudget",
                                      ld(2, ld(1, vi(1, 7)))), errors.BadRequest),
    ("unknown-kind", envelope("v1", "Frobnicator", b""), errors.UnsupportedMediaType),
    ("known-kind-wrong-version", envelope("apps/v1beta1", "Deployment", b""),
     errors.UnsupportedMediaType),
    ("gzip-content-encoding", envelope("v1", "Namespace", b"", ld(3, "gzip")),
     errors.UnsupportedMediaType),
    ("json-content-type", envelope("v1", "Namespace", b"", ld(4, "application/json")),
     errors.UnsupportedMediaType),
]


@pytest.mark.parametrize("body,error", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_bodies_are_rejected(body: bytes, error: type[errors.StatusError]) -> None:
    with pytest.raises(error) as info:
        pb.decode(body)
    assert type(info.value) is error and info.value.message


def test_deeply_nested_raw_extensions_are_rejected() -> None:
    inner = envelope("v1", "Namespace", b"")
    for _ in range(20):
        inner = ld(1, inner)  # RawExtension{raw: <inner>} wrapped again and again
    with pytest.raises(errors.BadRequest):
        pb._SPECIALS["RawExtension"](inner, 0)
    with pytest.raises(errors.BadRequest):
        pb._SPECIALS["RawExtension"](ld(1, b"not json"), 0)


def _decode_or_status(body: bytes) -> None:
    try:
        assert isinstance(pb.decode(body), dict)
    except (errors.BadRequest, errors.UnsupportedMediaType):
        pass


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KIND_KEYS = sorted(KINDS)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _decode_or_status(data)
    _decode_or_status(pb.MAGIC + data)


@FUZZ
@given(st.sampled_from(KIND_KEYS), st.binary(max_size=600))
def test_fuzz_random_object_of_every_kind(key: tuple[str, str], raw: bytes) -> None:
    api_version = "v1" if key[0] == "*" else key[0]
    _decode_or_status(envelope(api_version, key[1], raw))


@FUZZ
@given(st.sampled_from(GOLDEN_NAMES), st.integers(0, 10_000), st.integers(0, 255),
       st.integers(0, 10_000))
def test_fuzz_mutated_goldens(name: str, pos: int, byte: int, cut: int) -> None:
    body = bytearray((GOLDEN / f"{name}.bin").read_bytes())
    body[pos % len(body)] = byte
    _decode_or_status(bytes(body))
    _decode_or_status(bytes(body[: cut % len(body)]))


def test_fixed_width_fields_are_skipped_when_unknown() -> None:
    raw = ld(1, ld(1, "n")) + varint(500 << 3 | 1) + struct.pack("<d", 1.5) + varint(501 << 3 | 5) + b"\0" * 4
    assert pb.decode(envelope("v1", "Namespace", raw))["metadata"]["name"] == "n"
