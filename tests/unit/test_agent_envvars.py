"""Container environment (kubeproc/agent/envvars.py, downward.py, expansion.py): `$(VAR)`
expansion (cases from upstream expansion/expand_test.go), service link variables, envFrom,
env with valueFrom, and the kubelet's error texts (modelled on kubelet_pods_test.go
TestMakeEnvironmentVariables)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kubeproc.agent.downward import DownwardError, container_resource_value, pod_field_value
from kubeproc.agent.envvars import EnvError, EnvList, container_env, service_env
from kubeproc.agent.expansion import expand, expand_command_and_args, mapping_for

# ---- expansion --------------------------------------------------------------------------------

CTX = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}

EXPANSION_CASES = [
    ("whole-string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape-and-expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    ("compound-escape", "$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
    ("mixed-in-escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash-escape-ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    ("double-backslash-ignored", "foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
    ("nested-references-kept", "$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
    ("nested-second-type", "$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
    ("value-is-a-reference-not-reexpanded", "$(VAR_REF)", "$(VAR_A)"),
    ("reference-twice", "%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
    ("empty-var", "foo$(VAR_EMPTY)bar", "foobar"),
    ("unterminated", "foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
    ("no-operator", "f00__(VAR_A)__", "f00__(VAR_A)__"),
    ("shell-specials-pass", "$?_boo_$!", "$?_boo_$!"),
    ("bare-operator", "$VAR_A", "$VAR_A"),
    ("undefined-passes-through", "$(VAR_DNE)", "$(VAR_DNE)"),
    ("even-operators-undefined", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
    ("even-operators-defined", "$$$$$$(VAR_A)", "$$$(VAR_A)"),
    ("odd-operators-undefined", "$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
    ("odd-operators-defined", "$$$$$$$(VAR_A)", "$$$A"),
    ("missing-open", "$VAR_A)", "$VAR_A)"),
    ("shell-syntax-ignored", "${VAR_A}", "${VAR_A}"),
    ("trailing-incomplete", "$(VAR_B)_______$(A", "B_______$(A"),
    ("trailing-incomplete-empty", "$(VAR_C)_______$(", "C_______$("),
    ("operator-at-end", "$(VAR_A)foobarzab$", "Afoobarzab$"),
    ("shell-escaped-incomplete", "foo-\\$(VAR_A", "foo-\\$(VAR_A"),
    ("many-open-middle", "--$($($($($--", "--$($($($($--"),
    ("many-open-beginning", "$($($($($--foo$(", "$($($($($--foo$("),
    ("many-open-end", "foo0--$($($($(", "foo0--$($($($("),
    ("escaped-operators-in-names", "$(foo$$var)", "$(foo$$var)"),
    ("newline", "\n", "\n"),
]


@pytest.mark.parametrize("text, want", [c[1:] for c in EXPANSION_CASES], ids=[c[0] for c in EXPANSION_CASES])
@pytest.mark.parametrize("how", ["mapping", "function", "dual-context"])
def test_expand(text: str, want: str, how: str) -> None:
    if how == "mapping":
        lookup: Any = CTX
    elif how == "function":
        lookup = CTX.get
    else:
        first = {k: CTX[k] for k in ("VAR_A", "VAR_EMPTY")}
        rest = {k: v for k, v in CTX.items() if k not in first}
        lookup = mapping_for(first, rest)
        assert expand(text, lambda name: lookup(name)) == want
        return
    assert expand(text, lookup) == want


def test_expand_command_and_args_uses_final_env() -> None:
    container = {"command": ["sh", "-c", "echo $(MSG) $$(MSG)"], "args": ["$(KUBERNETES_SERVICE_HOST)", "$(NOPE)"]}
    env = [("KUBERNETES_SERVICE_HOST", "10.96.0.1"), ("MSG", "hi")]
    assert expand_command_and_args(container, env) == (["sh", "-c", "echo hi $(MSG)"], ["10.96.0.1", "$(NOPE)"])
    assert expand_command_and_args({}, env) == ([], [])


# ---- container_env ----------------------------------------------------------------------------


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


POD = {
    "metadata": {
        "name": "dapi-test-pod-name",
        "namespace": "kubernetes-namespace",
        "uid": "7e0b2a1c-0000-4000-8000-000000000001",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"owner": "team-a"},
    },
    "spec": {"nodeName": "node-name", "serviceAccountName": "special"},
}
CONFIGMAPS = {"test-config-map": {"data": {"REPLACE_ME": "FROM_CONFIG_MAP", "DUPE_TEST": "CONFIG_MAP", "a.b": "dotted", "bad key": "sp"}}}
SECRETS = {"test-secret": {"data": {"REPLACE_ME": b64("FROM_SECRET"), "DUPE_TEST": b64("SECRET"), "1bad": b64("x")}}}
SVC = {"TEST_SERVICE_HOST": "1.2.3.3", "TEST_SERVICE_PORT": "8083", "KUBERNETES_SERVICE_HOST": "1.2.3.1"}
ALLOC = {"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi"}


def run(container: dict[str, Any], **kw: Any) -> Any:
    pod = kw.pop("pod", POD)
    args: dict[str, Any] = dict(
        configmaps=CONFIGMAPS,
        secrets=SECRETS,
        service_env=kw.pop("svc", None),
        node_name="node-name",
        host_ip="10.0.0.1",
        pod_ips=["10.244.0.5"],
        node_allocatable=ALLOC,
    )
    args.update(kw)
    return container_env(pod, container, **args)


def fref(path: str) -> dict[str, Any]:
    return {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}


@pytest.mark.parametrize(
    "container, svc, want",
    [
        (
            {"env": [{"name": "FOO", "value": "BAR"}, {"name": "TEST_LITERAL", "value": "test-test-test"}]},
            SVC,
            [("TEST_SERVICE_HOST", "1.2.3.3"), ("TEST_SERVICE_PORT", "8083"), ("KUBERNETES_SERVICE_HOST", "1.2.3.1"),
             ("FOO", "BAR"), ("TEST_LITERAL", "test-test-test")],
        ),
        (
            {"env": [{"name": "TEST_SERVICE_HOST", "value": "mine"}]},
            SVC,
            [("TEST_SERVICE_PORT", "8083"), ("KUBERNETES_SERVICE_HOST", "1.2.3.1"), ("TEST_SERVICE_HOST", "mine")],
        ),
        (
            {"env": [
                {"name": "TEST_LITERAL", "value": "test-test-test"},
                {"name": "EXPANSION_TEST", "value": "$(TEST_LITERAL)"},
                {"name": "SERVICE_VAR_TEST", "value": "$(TEST_SERVICE_HOST):$(TEST_SERVICE_PORT)"},
                {"name": "OUT_OF_ORDER_TEST", "value": "$(OUT_OF_ORDER_TARGET)"},
                {"name": "OUT_OF_ORDER_TARGET", "value": "FOO"},
                {"name": "UNDEFINED_TEST", "value": "$(UNDEFINED_VAR)"},
                {"name": "ESCAPE_TEST", "value": "$$(TEST_LITERAL)"},
                {"name": "EMPTY_VAR", "value": ""},
                {"name": "EMPTY_TEST", "value": "foo-$(EMPTY_VAR)"},
            ]},
            {"TEST_SERVICE_HOST": "1.2.3.3", "TEST_SERVICE_PORT": "8083"},
            [("TEST_SERVICE_HOST", "1.2.3.3"), ("TEST_SERVICE_PORT", "8083"),
             ("TEST_LITERAL", "test-test-test"), ("EXPANSION_TEST", "test-test-test"),
             ("SERVICE_VAR_TEST", "1.2.3.3:8083"), ("OUT_OF_ORDER_TEST", "$(OUT_OF_ORDER_TARGET)"),
             ("OUT_OF_ORDER_TARGET", "FOO"), ("UNDEFINED_TEST", "$(UNDEFINED_VAR)"),
             ("ESCAPE_TEST", "$(TEST_LITERAL)"), ("EMPTY_VAR", ""), ("EMPTY_TEST", "foo-")],
        ),
        (
            {"envFrom": [{"configMapRef": {"name": "test-config-map"}, "prefix": "CM_"}],
             "env": [{"name": "EXPANSION", "value": "$(CM_REPLACE_ME)"}]},
            None,
            [("CM_REPLACE_ME", "FROM_CONFIG_MAP"), ("CM_DUPE_TEST", "CONFIG_MAP"), ("CM_a.b", "dotted"), ("CM_bad key", "sp"),
             ("EXPANSION", "FROM_CONFIG_MAP")],
        ),
        (
            {"envFrom": [{"configMapRef": {"name": "test-config-map"}}, {"secretRef": {"name": "test-secret"}}],
             "env": [{"name": "DUPE_TEST", "value": "ENV_VAR"}]},
            None,
            [("a.b", "dotted"), ("bad key", "sp"), ("REPLACE_ME", "FROM_SECRET"), ("1bad", "x"), ("DUPE_TEST", "ENV_VAR")],
        ),
        (
            {"envFrom": [{"configMapRef": {"name": "nope", "optional": True}},
                         {"secretRef": {"name": "nope", "optional": True}}],
             "env": [
                 {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
                 {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "test-config-map", "key": "k", "optional": True}}},
                 {"name": "C", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
                 {"name": "D", "valueFrom": {"secretKeyRef": {"name": "test-secret", "key": "k", "optional": True}}},
                 {"name": "E", "value": "$(A)"},
             ]},
            None,
            [("E", "$(A)")],
        ),
        (
            {"env": [
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "test-config-map", "key": "REPLACE_ME"}}},
                {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": "test-secret", "key": "REPLACE_ME"}}},
                {"name": "BOTH", "value": "$(CM)/$(SEC)"},
            ]},
            None,
            [("CM", "FROM_CONFIG_MAP"), ("SEC", "FROM_SECRET"), ("BOTH", "FROM_CONFIG_MAP/FROM_SECRET")],
        ),
        (
            {"env": [
                {"name": "POD_NAME", "valueFrom": fref("metadata.name")},
                {"name": "POD_NAMESPACE", "valueFrom": fref("metadata.namespace")},
                {"name": "POD_UID", "valueFrom": fref("metadata.uid")},
                {"name": "APP", "valueFrom": fref("metadata.labels['app']")},
                {"name": "MISSING_LABEL", "valueFrom": fref("metadata.labels['nope']")},
                {"name": "OWNER", "valueFrom": fref("metadata.annotations['owner']")},
                {"name": "NODE_NAME", "valueFrom": fref("spec.nodeName")},
                {"name": "SA", "valueFrom": fref("spec.serviceAccountName")},
                {"name": "HOST_IP", "valueFrom": fref("status.hostIP")},
                {"name": "HOST_IPS", "valueFrom": fref("status.hostIPs")},
                {"name": "POD_IP", "valueFrom": fref("status.podIP")},
                {"name": "POD_IPS", "valueFrom": fref("status.podIPs")},
            ]},
            None,
            [("POD_NAME", "dapi-test-pod-name"), ("POD_NAMESPACE", "kubernetes-namespace"),
             ("POD_UID", "7e0b2a1c-0000-4000-8000-000000000001"), ("APP", "web"), ("MISSING_LABEL", ""),
             ("OWNER", "team-a"), ("NODE_NAME", "node-name"), ("SA", "special"), ("HOST_IP", "10.0.0.1"),
             ("HOST_IPS", "10.0.0.1"), ("POD_IP", "10.244.0.5"), ("POD_IPS", "10.244.0.5")],
        ),
    ],
    ids=[
        "service-env-first-then-env",
        "env-overrides-service-env",
        "expansion-rules",
        "envfrom-prefix-and-expansion",
        "env-overrides-envfrom-secret-decoded",
        "optional-missing-sources-skipped",
        "key-refs",
        "field-refs",
    ],
)
def test_container_env(container: dict[str, Any], svc: dict[str, str] | None, want: list[tuple[str, str]]) -> None:
    got = run(container, svc=svc)
    assert isinstance(got, EnvList)
    assert list(got) == want
    assert got.warnings == []


def test_env_dual_stack_ips() -> None:
    got = run(
        {"env": [{"name": "P", "valueFrom": fref("status.podIPs")}, {"name": "H", "valueFrom": fref("status.hostIPs")}]},
        pod_ips=["10.244.0.5", "fd00::5"],
        host_ip=["10.0.0.1", "fd00::1"],
    )
    assert list(got) == [("P", "10.244.0.5,fd00::5"), ("H", "10.0.0.1,fd00::1")]


def test_node_name_fills_unbound_pod() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {}}
    got = run({"env": [{"name": "N", "valueFrom": fref("spec.nodeName")}]}, pod=pod)
    assert list(got) == [("N", "node-name")]
    assert "nodeName" not in pod["spec"]  # input untouched


@pytest.mark.parametrize(
    "container, message",
    [
        ({"envFrom": [{"configMapRef": {"name": "x"}}]}, 'configmap "x" not found'),
        ({"envFrom": [{"secretRef": {"name": "x"}}]}, 'secret "x" not found'),
        ({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "x", "key": "k"}}}]}, 'configmap "x" not found'),
        ({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]}, 'secret "x" not found'),
        (
            {"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "test-config-map", "key": "k"}}}]},
            "couldn't find key k in ConfigMap kubernetes-namespace/test-config-map",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "test-secret", "key": "k", "optional": False}}}]},
            "couldn't find key k in Secret kubernetes-namespace/test-secret",
        ),
        ({"env": [{"name": "A", "valueFrom": fref("spec.hostname")}]}, "field label not supported: spec.hostname"),
        ({"env": [{"name": "A", "valueFrom": fref("status.phase")}]}, "unsupported fieldPath: status.phase"),
        (
            {"env": [{"name": "A", "valueFrom": fref("spec.nodeName['x']")}]},
            "field label does not support subscript: spec.nodeName['x']",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": "v2", "fieldPath": "metadata.name"}}}]},
            "unsupported pod version: v2",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
            "unsupported container resource : limits.gpu",
        ),
        (
            {"env": [{"name": "A", "valueFrom": {"resourceFieldRef": {"containerName": "ghost", "resource": "limits.cpu"}}}]},
            "container ghost not found",
        ),
    ],
    ids=[
        "envfrom-configmap-missing",
        "envfrom-secret-missing",
        "configmap-key-ref-object-missing",
        "secret-key-ref-object-missing",
        "configmap-key-missing",
        "secret-key-missing-optional-false",
        "field-label-not-supported",
        "field-path-not-extractable",
        "subscript-only-on-labels-annotations",
        "field-ref-bad-version",
        "resource-unsupported",
        "resource-container-missing",
    ],
)
def test_container_env_errors(container: dict[str, Any], message: str) -> None:
    got = run(container)
    assert isinstance(got, EnvError)
    assert str(got) == message


def test_invalid_envfrom_keys_skipped_when_not_relaxed() -> None:
    got = run(
        {"envFrom": [{"configMapRef": {"name": "test-config-map"}}, {"secretRef": {"name": "test-secret"}, "prefix": "S_"}]},
        relaxed_names=False,
    )
    assert isinstance(got, EnvList)
    assert list(got) == [
        ("REPLACE_ME", "FROM_CONFIG_MAP"),
        ("DUPE_TEST", "CONFIG_MAP"),
        ("a.b", "dotted"),
        ("S_REPLACE_ME", "FROM_SECRET"),
        ("S_DUPE_TEST", "SECRET"),
        ("S_1bad", "x"),
    ]
    assert got.warnings == [
        (
            "InvalidEnvironmentVariableNames",
            "Keys [bad key] from the EnvFrom configMap kubernetes-namespace/test-config-map were skipped since they "
            "are considered invalid environment variable names.",
        )
    ]


def test_invalid_envfrom_key_with_digit_prefix_skipped() -> None:
    got = run({"envFrom": [{"secretRef": {"name": "test-secret"}}]}, relaxed_names=False)
    assert [k for k, _ in got] == ["REPLACE_ME", "DUPE_TEST"]
    assert got.warnings[0][1].startswith("Keys [1bad] from the EnvFrom secret kubernetes-namespace/test-secret")


# ---- resources --------------------------------------------------------------------------------

C = {
    "name": "main",
    "resources": {
        "limits": {"cpu": "1500m", "memory": "1Gi", "ephemeral-storage": "2G"},
        "requests": {"cpu": "250m", "memory": "100Mi", "ephemeral-storage": "1G", "hugepages-2Mi": "4Mi"},
    },
}


@pytest.mark.parametrize(
    "resource, divisor, want",
    [
        ("limits.cpu", None, "2"),
        ("limits.cpu", "1m", "1500"),
        ("limits.cpu", "100m", "15"),
        ("requests.cpu", "1", "1"),
        ("requests.cpu", "1m", "250"),
        ("limits.memory", None, "1073741824"),
        ("limits.memory", "1Mi", "1024"),
        ("limits.memory", "1M", "1074"),
        ("requests.memory", "1Gi", "1"),
        ("limits.ephemeral-storage", "1Gi", "2"),
        ("requests.ephemeral-storage", "1M", "1000"),
        ("requests.hugepages-2Mi", "1Mi", "4"),
        ("limits.hugepages-2Mi", None, "0"),
        ("limits.cpu", "0", "2"),
    ],
    ids=[
        "cpu-cores-rounded-up",
        "cpu-millicores",
        "cpu-divisor-100m",
        "request-cpu-rounded-up",
        "request-millicores",
        "memory-bytes",
        "memory-mebibytes",
        "memory-megabytes-rounded-up",
        "memory-gibibytes-rounded-up",
        "ephemeral-storage",
        "ephemeral-request",
        "hugepages-request",
        "unset-resource-is-zero",
        "zero-divisor-means-one",
    ],
)
def test_container_resource_value(resource: str, divisor: str | None, want: str) -> None:
    ref: dict[str, Any] = {"resource": resource}
    if divisor is not None:
        ref["divisor"] = divisor
    assert container_resource_value(ref, C) == want


@pytest.mark.parametrize(
    "env, want",
    [
        ({"resource": "limits.cpu"}, "4"),
        ({"resource": "limits.memory", "divisor": "1Gi"}, "8"),
        ({"resource": "limits.ephemeral-storage", "divisor": "1Gi"}, "100"),
        ({"resource": "requests.cpu", "divisor": "1m"}, "0"),
        ({"resource": "limits.cpu", "containerName": "side", "divisor": "1m"}, "500"),
        ({"resource": "limits.memory", "containerName": "side", "divisor": "1Gi"}, "8"),
    ],
    ids=[
        "no-limit-uses-allocatable-cpu",
        "no-limit-uses-allocatable-memory",
        "no-limit-uses-allocatable-storage",
        "no-request-is-zero",
        "other-container-limit",
        "other-container-defaulted",
    ],
)
def test_resource_field_ref_defaults_to_allocatable(env: dict[str, Any], want: str) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "main"}, {"name": "side", "resources": {"limits": {"cpu": "500m"}}}]},
    }
    got = run({"name": "main", "env": [{"name": "R", "valueFrom": {"resourceFieldRef": env}}]}, pod=pod)
    assert list(got) == [("R", want)]


def test_field_ref_errors_without_host_ip() -> None:
    with pytest.raises(DownwardError):
        pod_field_value({"fieldPath": "status.hostIP"}, POD, pod_ips=[], host_ips=[])


# ---- service links ----------------------------------------------------------------------------


def svc(name: str, ns: str, ip: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


SERVICES = [
    svc("kubernetes", "default", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    svc("my-db", "app", "10.96.0.20", [{"port": 5432}, {"name": "metrics", "port": 9187, "protocol": "UDP"}]),
    svc("headless", "app", "None", [{"port": 80}]),
    svc("other", "elsewhere", "10.96.0.30", [{"port": 80}]),
]


def test_service_env_links() -> None:
    got = service_env(SERVICES, "app", True)
    assert got == {
        "KUBERNETES_SERVICE_HOST": "10.96.0.1",
        "KUBERNETES_SERVICE_PORT": "443",
        "KUBERNETES_SERVICE_PORT_HTTPS": "443",
        "KUBERNETES_PORT": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP": "tcp://10.96.0.1:443",
        "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
        "KUBERNETES_PORT_443_TCP_PORT": "443",
        "KUBERNETES_PORT_443_TCP_ADDR": "10.96.0.1",
        "MY_DB_SERVICE_HOST": "10.96.0.20",
        "MY_DB_SERVICE_PORT": "5432",
        "MY_DB_SERVICE_PORT_METRICS": "9187",
        "MY_DB_PORT": "tcp://10.96.0.20:5432",
        "MY_DB_PORT_5432_TCP": "tcp://10.96.0.20:5432",
        "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_5432_TCP_PORT": "5432",
        "MY_DB_PORT_5432_TCP_ADDR": "10.96.0.20",
        "MY_DB_PORT_9187_UDP": "udp://10.96.0.20:9187",
        "MY_DB_PORT_9187_UDP_PROTO": "udp",
        "MY_DB_PORT_9187_UDP_PORT": "9187",
        "MY_DB_PORT_9187_UDP_ADDR": "10.96.0.20",
    }


@pytest.mark.parametrize(
    "ns, links, want_prefixes",
    [
        ("app", False, {"KUBERNETES"}),
        ("elsewhere", True, {"KUBERNETES", "OTHER"}),
        ("default", True, {"KUBERNETES"}),
    ],
    ids=["links-off-keeps-master-service", "other-namespace", "default-namespace"],
)
def test_service_env_selection(ns: str, links: bool, want_prefixes: set[str]) -> None:
    got = service_env(SERVICES, ns, links)
    assert {k.split("_", 1)[0] for k in got} == want_prefixes


def test_service_env_ipv6_port_url() -> None:
    got = service_env([svc("kubernetes", "default", "fd00::1", [{"port": 443}])], "x", False)
    assert got["KUBERNETES_PORT"] == "tcp://[fd00::1]:443"
