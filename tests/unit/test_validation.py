"""Server-side validation: every case checks the exact upstream field path and message."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from kubeproc.api import quantity
from kubeproc.api.errors import Invalid
from kubeproc.api.resources import by_kind
from kubeproc.api.validation import validate

SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                 "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
                 "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
             "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
             "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
               "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
               "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                   "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  "
                   "or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
QNAME_PART_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                  "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                  "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                  "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")
POD_UPDATE_MSG = ("Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                  "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                  "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
                  "to 1 if it was previously negative)\n")


def _meta(name: str = "x", ns: str | None = "default", **extra: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, **extra}
    if ns is not None:
        m["namespace"] = ns
    return m


def _pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", "image": "nginx"}], "restartPolicy": "Always",
            "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30, **extra}


def _template(labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"labels": labels if labels is not None else {"app": "web"}}, "spec": _pod_spec()}


BASE: dict[tuple[str, str], dict[str, Any]] = {
    ("", "Pod"): {"metadata": _meta("p"), "spec": _pod_spec()},
    ("", "Service"): {"metadata": _meta("svc"), "spec": {"type": "ClusterIP", "selector": {"app": "web"},
                      "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
                      "clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10"], "sessionAffinity": "None"}},
    ("", "ConfigMap"): {"metadata": _meta("cm"), "data": {"k": "v"}},
    ("", "Secret"): {"metadata": _meta("s"), "type": "Opaque", "data": {"k": "dg=="}},
    ("", "Namespace"): {"metadata": _meta("ns1", None), "spec": {"finalizers": ["kubernetes"]}},
    ("", "PersistentVolumeClaim"): {"metadata": _meta("pvc"), "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"}},
    ("", "PersistentVolume"): {"metadata": _meta("pv", None), "spec": {
        "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}, "hostPath": {"path": "/data"},
        "persistentVolumeReclaimPolicy": "Retain"}},
    ("", "Event"): {"metadata": _meta("e.1"), "involvedObject": {"kind": "Pod", "namespace": "default", "name": "p"},
                    "reason": "Started", "type": "Normal"},
    ("", "ReplicationController"): {"metadata": _meta("rc"), "spec": {
        "replicas": 1, "selector": {"app": "web"}, "template": _template()}},
    ("apps", "Deployment"): {"metadata": _meta("d"), "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": _template(),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}},
    ("apps", "ReplicaSet"): {"metadata": _meta("rs"), "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}}, "template": _template()}},
    ("apps", "StatefulSet"): {"metadata": _meta("web"), "spec": {
        "replicas": 1, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}}, "template": _template(),
        "podManagementPolicy": "OrderedReady",
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}},
    ("policy", "PodDisruptionBudget"): {"metadata": _meta("pdb"), "spec": {
        "minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
    ("coordination.k8s.io", "Lease"): {"metadata": _meta("l"), "spec": {"holderIdentity": "a",
                                                                         "leaseDurationSeconds": 15}},
    ("storage.k8s.io", "StorageClass"): {"metadata": _meta("sc", None), "provisioner": "example.com/hostpath",
                                         "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
    ("discovery.k8s.io", "EndpointSlice"): {"metadata": _meta("es"), "addressType": "IPv4",
                                            "endpoints": [{"addresses": ["10.1.0.1"]}],
                                            "ports": [{"port": 80, "protocol": "TCP"}]},
}


def _set(obj: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted path ("spec.containers.0.image"); value DELETE removes the key."""
    parts = path.split(".")
    cur: Any = obj
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
    last = parts[-1]
    if value is DELETE:
        if isinstance(cur, list):
            cur.pop(int(last))
        else:
            cur.pop(last, None)
    elif isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value


DELETE = object()


def _variant(gk: tuple[str, str], **changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(BASE[gk])
    for path, value in changes.items():
        _set(obj, path.replace("__", "."), value)
    return obj


def _causes(gk: tuple[str, str], obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    res = by_kind(*gk)
    assert res is not None
    return [(c.field, c.message) for c in validate(res, obj, old)]


@pytest.mark.parametrize("gk", list(BASE), ids=[k for _, k in BASE])
def test_valid_objects_pass(gk: tuple[str, str]) -> None:
    assert _causes(gk, copy.deepcopy(BASE[gk])) == []
    assert _causes(gk, copy.deepcopy(BASE[gk]), copy.deepcopy(BASE[gk])) == []


POD, SVC, CM, SEC, NS = ("", "Pod"), ("", "Service"), ("", "ConfigMap"), ("", "Secret"), ("", "Namespace")
PVC, PV, EV, RC = ("", "PersistentVolumeClaim"), ("", "PersistentVolume"), ("", "Event"), ("", "ReplicationController")
DEP, RS, STS = ("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet")
PDB, LEASE, SC, ES = (("policy", "PodDisruptionBudget"), ("coordination.k8s.io", "Lease"),
                      ("storage.k8s.io", "StorageClass"), ("discovery.k8s.io", "EndpointSlice"))

CREATE_CASES = [
    # metadata
    ("meta-name-subdomain", POD, {"metadata__name": "Bad_Name"},
     [("metadata.name", f'Invalid value: "Bad_Name": {SUBDOMAIN_MSG}')]),
    ("meta-name-required", CM, {"metadata__name": DELETE},
     [("metadata.name", "Required value: name or generateName is required")]),
    ("meta-generate-name-trailing-dash-ok", CM, {"metadata__name": "cm-abcde", "metadata__generateName": "cm-"}, []),
    ("meta-namespace-required", CM, {"metadata__namespace": DELETE}, [("metadata.namespace", "Required value")]),
    ("meta-namespace-forbidden-cluster-scoped", PV, {"metadata__namespace": "default"},
     [("metadata.namespace", "Forbidden: not allowed on this type")]),
    ("meta-label-value", CM, {"metadata__labels": {"app": "-bad"}},
     [("metadata.labels", f'Invalid value: "-bad": {LABEL_VALUE_MSG}')]),
    ("meta-label-key", CM, {"metadata__labels": {"a/b/c": "x"}},
     [("metadata.labels", 'Invalid value: "a/b/c": a qualified name must consist of alphanumeric characters, '
       "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
       "or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional "
       "DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")]),
    ("meta-annotation-key", CM, {"metadata__annotations": {"bad key": "x"}},
     [("metadata.annotations", f'Invalid value: "bad key": {QNAME_PART_MSG}')]),
    ("meta-annotations-too-long", CM, {"metadata__annotations": {"a": "x" * (256 * 1024)}},
     [("metadata.annotations", "Too long: may not be more than 262144 bytes")]),
    ("meta-finalizer-not-qualified", CM, {"metadata__finalizers": ["custom"]},
     [("metadata.finalizers[0]", 'Invalid value: "custom": name is neither a standard finalizer name nor is it '
       "fully qualified")]),
    ("meta-owner-reference-uid", CM, {"metadata__ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]},
     [("metadata.ownerReferences.uid", 'Invalid value: "": uid must not be empty')]),
    # names per kind
    ("service-name-dns1035", SVC, {"metadata__name": "1svc"}, [("metadata.name", f'Invalid value: "1svc": {DNS1035_MSG}')]),
    ("namespace-name-dns-label", NS, {"metadata__name": "a.b"}, [("metadata.name", f'Invalid value: "a.b": {LABEL_MSG}')]),
    ("statefulset-name-dns-label", STS, {"metadata__name": "web.v1"},
     [("metadata.name", f'Invalid value: "web.v1": {LABEL_MSG}')]),
    ("deployment-name-subdomain-dots-ok", DEP, {"metadata__name": "web.v1"}, []),
    # pods
    ("pod-containers-required", POD, {"spec__containers": []}, [("spec.containers", "Required value")]),
    ("pod-container-name-required", POD, {"spec__containers__0__name": DELETE},
     [("spec.containers[0].name", "Required value")]),
    ("pod-container-name-dns-label", POD, {"spec__containers__0__name": "C1"},
     [("spec.containers[0].name", f'Invalid value: "C1": {LABEL_MSG}')]),
    ("pod-container-name-duplicate", POD, {"spec__containers": [{"name": "c", "image": "a"}, {"name": "c", "image": "b"}]},
     [("spec.containers[1].name", 'Duplicate value: "c"')]),
    ("pod-image-required", POD, {"spec__containers__0__image": DELETE}, [("spec.containers[0].image", "Required value")]),
    ("pod-image-whitespace", POD, {"spec__containers__0__image": " nginx"},
     [("spec.containers[0].image", 'Invalid value: " nginx": must not have leading or trailing whitespace')]),
    ("pod-container-port-range", POD, {"spec__containers__0__ports": [{"containerPort": 70000}]},
     [("spec.containers[0].ports[0].containerPort", "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("pod-container-port-required", POD, {"spec__containers__0__ports": [{"name": "http"}]},
     [("spec.containers[0].ports[0].containerPort", "Required value")]),
    ("pod-port-protocol", POD, {"spec__containers__0__ports": [{"containerPort": 80, "protocol": "HTTP"}]},
     [("spec.containers[0].ports[0].protocol", 'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"')]),
    ("pod-port-name", POD, {"spec__containers__0__ports": [{"containerPort": 80, "name": "123"}]},
     [("spec.containers[0].ports[0].name", 'Invalid value: "123": must contain at least one letter (a-z)')]),
    ("pod-env-name-required", POD, {"spec__containers__0__env": [{"value": "x"}]},
     [("spec.containers[0].env[0].name", "Required value")]),
    ("pod-env-name-relaxed", POD, {"spec__containers__0__env": [{"name": "A=B"}]},
     [("spec.containers[0].env[0].name", 'Invalid value: "A=B": a valid environment variable name must consist '
       "only of printable ASCII characters other than '='")]),
    ("pod-volume-name-duplicate", POD, {"spec__volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}]},
     [("spec.volumes[1].name", 'Duplicate value: "v"')]),
    ("pod-volume-type-required", POD, {"spec__volumes": [{"name": "v"}]},
     [("spec.volumes[0]", "Required value: must specify a volume type")]),
    ("pod-volume-two-types", POD, {"spec__volumes": [{"name": "v", "emptyDir": {}, "hostPath": {"path": "/x"}}]},
     [("spec.volumes[0].hostPath", "Forbidden: may not specify more than 1 volume type")]),
    ("pod-volume-mount-not-found", POD, {"spec__containers__0__volumeMounts": [{"name": "data", "mountPath": "/d"}]},
     [("spec.containers[0].volumeMounts[0].name", 'Not found: "data"')]),
    ("pod-secret-volume-name", POD, {"spec__volumes": [{"name": "v", "secret": {}}]},
     [("spec.volumes[0].secret.secretName", "Required value")]),
    ("pod-restart-policy", POD, {"spec__restartPolicy": "Sometimes"},
     [("spec.restartPolicy", 'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"')]),
    ("pod-dns-policy", POD, {"spec__dnsPolicy": "Google"},
     [("spec.dnsPolicy", 'Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", '
       '"ClusterFirst", "Default", "None"')]),
    ("pod-requests-above-limits", POD,
     {"spec__containers__0__resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}},
     [("spec.containers[0].resources.requests", 'Invalid value: "2": must be less than or equal to cpu limit of 1500m')]),
    ("pod-requests-memory-canonical", POD,
     {"spec__containers__0__resources": {"requests": {"memory": "2048Mi"}, "limits": {"memory": "1Gi"}}},
     [("spec.containers[0].resources.requests", 'Invalid value: "2Gi": must be less than or equal to memory '
       "limit of 1Gi")]),
    ("pod-resource-name", POD, {"spec__containers__0__resources": {"limits": {"gpu": "1"}}},
     [("spec.containers[0].resources.limits[gpu]", 'Invalid value: "gpu": must be a standard resource for containers')]),
    ("pod-resource-negative", POD, {"spec__containers__0__resources": {"requests": {"cpu": "-1"}}},
     [("spec.containers[0].resources.requests[cpu]", 'Invalid value: "-1": must be greater than or equal to 0')]),
    ("pod-active-deadline", POD, {"spec__activeDeadlineSeconds": 0},
     [("spec.activeDeadlineSeconds", "Invalid value: 0: must be between 1 and 2147483647, inclusive")]),
    ("pod-toleration-operator", POD, {"spec__tolerations": [{"operator": "Equal", "value": "x"}]},
     [("spec.tolerations[0].operator", 'Invalid value: "Equal": operator must be Exists when `key` is empty, '
       'which means "match all values and all keys"')]),
    ("pod-liveness-handler", POD, {"spec__containers__0__livenessProbe": {"periodSeconds": 10}},
     [("spec.containers[0].livenessProbe", "Required value: must specify a handler type")]),
    # services
    ("service-ports-required", SVC, {"spec__ports": []}, [("spec.ports", "Required value")]),
    ("service-type-enum", SVC, {"spec__type": "Internal"},
     [("spec.type", 'Unsupported value: "Internal": supported values: "ClusterIP", "ExternalName", '
       '"LoadBalancer", "NodePort"')]),
    ("service-port-name-required-when-many", SVC, {"spec__ports": [{"port": 80}, {"port": 81, "name": "b"}]},
     [("spec.ports[0].name", "Required value")]),
    ("service-port-range", SVC, {"spec__ports__0__port": 0},
     [("spec.ports[0].port", "Invalid value: 0: must be between 1 and 65535, inclusive")]),
    ("service-node-port-clusterip", SVC, {"spec__ports__0__nodePort": 30001},
     [("spec.ports[0].nodePort", "Forbidden: may not be used when `type` is 'ClusterIP'")]),
    # the configured range is the allocator's check (registry/nodeports.py); validation checks a port
    ("service-node-port-number", SVC, {"spec__type": "NodePort", "spec__ports__0__nodePort": 70000},
     [("spec.ports[0].nodePort", "Invalid value: 70000: must be between 1 and 65535, inclusive")]),
    ("service-selector-label", SVC, {"spec__selector": {"app": "a b"}},
     [("spec.selector", f'Invalid value: "a b": {LABEL_VALUE_MSG}')]),
    ("service-external-name-required", SVC, {"spec__type": "ExternalName", "spec__clusterIP": DELETE,
                                             "spec__clusterIPs": DELETE},
     [("spec.externalName", "Required value")]),
    ("service-external-name-cluster-ip", SVC, {"spec__type": "ExternalName", "spec__externalName": "example.com"},
     [("spec.clusterIPs", "Forbidden: may not be set for ExternalName services")]),
    ("service-cluster-ip-invalid", SVC, {"spec__clusterIP": "10.0.0.300", "spec__clusterIPs": ["10.0.0.300"]},
     [("spec.clusterIPs[0]", 'Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or '
       "2001:db8::ffff)")]),
    # configmaps and secrets
    ("configmap-key", CM, {"data": {"bad key": "v"}}, [("data[bad key]", f'Invalid value: "bad key": {CONFIG_KEY_MSG}')]),
    ("configmap-key-dotdot", CM, {"data": {"..x": "v"}}, [("data[..x]", "Invalid value: \"..x\": must not start with '..'")]),
    ("configmap-too-big", CM, {"data": {"a": "x" * (1024 * 1024 + 1)}},
     [("[]", "Too long: may not be more than 1048576 bytes")]),
    ("configmap-binary-duplicate", CM, {"binaryData": {"k": "dg=="}},
     [("data[k]", 'Invalid value: "k": duplicate of key present in binaryData')]),
    ("secret-key", SEC, {"data": {"a b": "dg=="}}, [("data[a b]", f'Invalid value: "a b": {CONFIG_KEY_MSG}')]),
    ("secret-tls-keys", SEC, {"type": "kubernetes.io/tls"},
     [("data[tls.crt]", "Required value"), ("data[tls.key]", "Required value")]),
    ("secret-string-data-key", SEC, {"stringData": {"bad/key": "v"}},
     [("data[bad/key]", f'Invalid value: "bad/key": {CONFIG_KEY_MSG}')]),
    # namespace
    ("namespace-spec-finalizer", NS, {"spec__finalizers": ["custom"]},
     [("spec.finalizers", 'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified')]),
    # storage
    ("pvc-access-modes-required", PVC, {"spec__accessModes": []},
     [("spec.accessModes", "Required value: at least 1 access mode is required")]),
    ("pvc-access-mode-enum", PVC, {"spec__accessModes": ["ReadWriteSometimes"]},
     [("spec.accessModes", 'Unsupported value: "ReadWriteSometimes": supported values: "ReadOnlyMany", '
       '"ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"')]),
    ("pvc-storage-required", PVC, {"spec__resources": {}}, [("spec.resources[storage]", "Required value")]),
    ("pvc-storage-positive", PVC, {"spec__resources__requests__storage": "0"},
     [("spec.resources[storage]", 'Invalid value: "0": must be greater than zero')]),
    ("pv-volume-type-required", PV, {"spec__hostPath": DELETE}, [("spec", "Required value: must specify a volume type")]),
    ("pv-capacity-required", PV, {"spec__capacity": {}},
     [("spec.capacity", "Required value"),
      ("spec.capacity", 'Unsupported value: core.ResourceList{}: supported values: "storage"')]),
    ("pv-reclaim-policy", PV, {"spec__persistentVolumeReclaimPolicy": "Keep"},
     [("spec.persistentVolumeReclaimPolicy", 'Unsupported value: "Keep": supported values: "Delete", "Recycle", '
       '"Retain"')]),
    # events
    ("event-namespace-mismatch", EV, {"involvedObject__namespace": "other"},
     [("involvedObject.namespace", 'Invalid value: "other": does not match event.namespace')]),
    # workloads
    ("rc-selector-mismatch", RC, {"spec__selector": {"app": "db"}},
     [("spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"web"}: `selector` does not match '
       "template `labels`")]),
    ("deployment-selector-required", DEP, {"spec__selector": DELETE}, [("spec.selector", "Required value")]),
    ("deployment-selector-mismatch", DEP, {"spec__selector__matchLabels": {"app": "db"}},
     [("spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"web"}: `selector` does not '
       "match template `labels`")]),
    ("deployment-selector-empty", DEP, {"spec__selector": {}},
     [("spec.selector", "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment")]),
    ("deployment-selector-operator", DEP, {"spec__selector": {"matchExpressions": [{"key": "app", "operator": "Has"}]}},
     [("spec.selector.matchExpressions[0].operator", 'Invalid value: "Has": not a valid selector operator'),
      ("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:'
       '[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"app", Operator:"Has", Values:[]string(nil)}}}'
       ": invalid label selector")]),
    ("deployment-replicas-negative", DEP, {"spec__replicas": -1},
     [("spec.replicas", "Invalid value: -1: must be greater than or equal to 0")]),
    ("deployment-surge-unavailable-zero", DEP, {"spec__strategy__rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}},
     [("spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
       "may not be 0 when `maxSurge` is 0")]),
    ("deployment-percent-format", DEP, {"spec__strategy__rollingUpdate__maxSurge": "ten%"},
     [("spec.strategy.rollingUpdate.maxSurge", 'Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"ten%"}: '
       "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex "
       "used for validation is '[0-9]+%')")]),
    ("deployment-unavailable-over-100", DEP, {"spec__strategy__rollingUpdate__maxUnavailable": "110%"},
     [("spec.strategy.rollingUpdate.maxUnavailable", 'Invalid value: intstr.IntOrString{Type:1, IntVal:0, '
       'StrVal:"110%"}: must not be greater than 100%')]),
    ("deployment-strategy-type", DEP, {"spec__strategy": {"type": "BlueGreen"}},
     [("spec.strategy", 'Unsupported value: "BlueGreen": supported values: "Recreate", "RollingUpdate"')]),
    ("deployment-recreate-rolling-update", DEP, {"spec__strategy__type": "Recreate"},
     [("spec.strategy.rollingUpdate", "Forbidden: may not be specified when strategy `type` is 'Recreate'")]),
    ("deployment-template-restart-policy", DEP, {"spec__template__spec__restartPolicy": "Never"},
     [("spec.template.spec.restartPolicy", 'Unsupported value: "Never": supported values: "Always"')]),
    ("deployment-template-image", DEP, {"spec__template__spec__containers__0__image": ""},
     [("spec.template.spec.containers[0].image", "Required value")]),
    ("deployment-progress-deadline", DEP, {"spec__minReadySeconds": 700},
     [("spec.progressDeadlineSeconds", "Invalid value: 600: must be greater than minReadySeconds")]),
    ("replicaset-selector-mismatch", RS, {"spec__template__metadata__labels": {"app": "x"}},
     [("spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"x"}: `selector` does not match '
       "template `labels`")]),
    ("statefulset-pod-management-policy", STS, {"spec__podManagementPolicy": "Random"},
     [("spec.podManagementPolicy", "Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'")]),
    ("statefulset-partition", STS, {"spec__updateStrategy__rollingUpdate__partition": -1},
     [("spec.updateStrategy.rollingUpdate.partition", "Invalid value: -1: must be greater than or equal to 0")]),
    ("statefulset-selector-mismatch", STS, {"spec__selector__matchLabels": {"app": "db"}},
     [("spec.template.metadata.labels", 'Invalid value: map[string]string{"app":"web"}: `selector` does not match '
       "template `labels`")]),
    # smaller groups
    ("pdb-min-and-max", PDB, {"spec__maxUnavailable": 1},
     [("spec", "Invalid value: policy.PodDisruptionBudgetSpec{MinAvailable:(*intstr.IntOrString)(0xc000000000), "
       "Selector:(*v1.LabelSelector)(0xc000000000), MaxUnavailable:(*intstr.IntOrString)(0xc000000000), "
       "UnhealthyPodEvictionPolicy:(*policy.UnhealthyPodEvictionPolicyType)(nil)}: minAvailable and maxUnavailable "
       "cannot be both set")]),
    ("pdb-min-available-negative", PDB, {"spec__minAvailable": -1},
     [("spec.minAvailable", "Invalid value: -1: must be greater than or equal to 0")]),
    ("lease-duration", LEASE, {"spec__leaseDurationSeconds": 0},
     [("spec.leaseDurationSeconds", "Invalid value: 0: must be greater than 0")]),
    ("storageclass-provisioner-required", SC, {"provisioner": ""}, [("provisioner", "Required value")]),
    ("storageclass-binding-mode", SC, {"volumeBindingMode": "Later"},
     [("volumeBindingMode", 'Unsupported value: "Later": supported values: "Immediate", "WaitForFirstConsumer"')]),
    ("endpointslice-address-type", ES, {"addressType": "IPv5"},
     [("addressType", 'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"')]),
]


@pytest.mark.parametrize("gk, changes, expected", [c[1:] for c in CREATE_CASES], ids=[c[0] for c in CREATE_CASES])
def test_create_rules(gk: tuple[str, str], changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert _causes(gk, _variant(gk, **changes)) == expected


UPDATE_CASES = [
    ("meta-name-immutable", CM, {}, {"metadata__name": "other"},
     [("metadata.name", 'Invalid value: "other": field is immutable')]),
    ("meta-uid-immutable", CM, {"metadata__uid": "a"}, {"metadata__uid": "b"},
     [("metadata.uid", 'Invalid value: "b": field is immutable')]),
    ("meta-omitted-uid-keeps-old", CM, {"metadata__uid": "a"}, {}, []),
    ("meta-no-new-finalizers-when-deleting", CM, {"metadata__deletionTimestamp": "2024-01-01T00:00:00Z"},
     {"metadata__deletionTimestamp": "2024-01-01T00:00:00Z", "metadata__finalizers": ["example.com/f"]},
     [("metadata.finalizers", 'Forbidden: no new finalizers can be added if the object is being deleted, found new '
       'finalizers []string{"example.com/f"}')]),
    ("pod-image-update-allowed", POD, {}, {"spec__containers__0__image": "nginx:2"}, []),
    ("pod-toleration-addition-allowed", POD, {}, {"spec__tolerations": [{"operator": "Exists"}]}, []),
    ("pod-active-deadline-decrease-allowed", POD, {"spec__activeDeadlineSeconds": 100},
     {"spec__activeDeadlineSeconds": 50}, []),
    ("pod-active-deadline-increase", POD, {"spec__activeDeadlineSeconds": 50}, {"spec__activeDeadlineSeconds": 100},
     [("spec.activeDeadlineSeconds", "Invalid value: 100: must be less than or equal to previous value")]),
    ("pod-add-container", POD, {}, {"spec__containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "x"}]},
     [("spec.containers", "Forbidden: pod updates may not add or remove containers")]),
    ("pod-toleration-removal", POD, {"spec__tolerations": [{"operator": "Exists"}]}, {"spec__tolerations": []},
     [("spec.tolerations", "Forbidden: existing toleration can not be modified except its tolerationSeconds")]),
    ("configmap-immutable-data", CM, {"immutable": True}, {"immutable": True, "data": {"k": "w"}},
     [("data", "Forbidden: field is immutable when `immutable` is set")]),
    ("configmap-immutable-flag", CM, {"immutable": True}, {"immutable": False},
     [("immutable", "Forbidden: field is immutable when `immutable` is set")]),
    ("secret-type-immutable", SEC, {}, {"type": "example.com/custom"},
     [("type", 'Invalid value: "example.com/custom": field is immutable')]),
    ("service-cluster-ip-immutable", SVC, {}, {"spec__clusterIP": "10.0.0.11", "spec__clusterIPs": ["10.0.0.11"]},
     [("spec.clusterIPs[0]", 'Invalid value: []string{"10.0.0.11"}: may not change once set')]),
    ("service-omitted-cluster-ip-ok", SVC, {}, {"spec__clusterIP": DELETE, "spec__clusterIPs": DELETE}, []),
    ("deployment-selector-immutable", DEP, {},
     {"spec__selector__matchLabels": {"app": "web", "v": "2"}, "spec__template__metadata__labels": {"app": "web", "v": "2"}},
     [("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "v":"2"}, '
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]),
    ("replicaset-selector-immutable", RS, {}, {"spec__selector__matchLabels": {"app": "db"},
                                               "spec__template__metadata__labels": {"app": "db"}},
     [("spec.selector", 'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"db"}, '
       "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable")]),
    ("deployment-template-update-allowed", DEP, {}, {"spec__template__spec__containers__0__image": "nginx:2"}, []),
    ("statefulset-forbidden-field", STS, {}, {"spec__serviceName": "other"},
     [("spec", "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
       "'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")]),
    ("statefulset-replicas-allowed", STS, {}, {"spec__replicas": 5}, []),
    ("pvc-bound-resize-allowed", PVC, {"status__phase": "Bound"},
     {"status__phase": "Bound", "spec__resources__requests__storage": "2Gi"}, []),
    ("pvc-volume-name-once", PVC, {}, {"spec__volumeName": "pv-1"}, []),
    ("storageclass-parameters", SC, {}, {"parameters": {"a": "b"}},
     [("parameters", "Forbidden: updates to parameters are forbidden.")]),
    ("endpointslice-address-type-immutable", ES, {}, {"addressType": "IPv6", "endpoints": [{"addresses": ["::1"]}]},
     [("addressType", 'Invalid value: "IPv6": field is immutable')]),
]


@pytest.mark.parametrize("gk, old_changes, new_changes, expected", [c[1:] for c in UPDATE_CASES],
                         ids=[c[0] for c in UPDATE_CASES])
def test_update_rules(gk: tuple[str, str], old_changes: dict[str, Any], new_changes: dict[str, Any],
                      expected: list[tuple[str, str]]) -> None:
    old = _variant(gk, **old_changes)
    assert _causes(gk, _variant(gk, **new_changes), old) == expected


def test_pod_update_forbidden_message_names_changed_field() -> None:
    old = _variant(POD)
    new = _variant(POD, spec__containers__0__ports=[{"containerPort": 80}])
    [(field, message)] = _causes(POD, new, old)
    assert field == "spec"
    assert message.startswith(POD_UPDATE_MSG)
    assert "+ \tcontainers[0].ports" in message


def test_pvc_spec_change_forbidden() -> None:
    old = _variant(PVC)
    new = _variant(PVC, spec__accessModes=["ReadWriteMany"])
    [(field, message)] = _causes(PVC, new, old)
    assert field == "spec"
    assert message.startswith("Forbidden: spec is immutable after creation except resources.requests and "
                              "volumeAttributesClassName for bound claims\n")


def test_invalid_error_message_joins_causes() -> None:
    obj = _variant(POD, metadata__name="Bad_Name", spec__containers__0__image="")
    causes = validate(by_kind("", "Pod"), obj)  # type: ignore[arg-type]
    err = Invalid.of("Pod", "", "Bad_Name", causes)
    assert err.message == (f'Pod "Bad_Name" is invalid: [metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}, '
                           "spec.containers[0].image: Required value]")


def test_validate_does_not_mutate_input() -> None:
    old = _variant(PVC, status__phase="Bound")
    new = _variant(PVC, status__phase="Bound", spec__resources__requests__storage="5Gi")
    before_new, before_old = copy.deepcopy(new), copy.deepcopy(old)
    _causes(PVC, new, old)
    assert (new, old) == (before_new, before_old)


QUANTITIES = [
    ("milli", "100m", Fraction(1, 10), "100m"),
    ("binary", "1Gi", Fraction(2**30), "1Gi"),
    ("exponent", "1e3", Fraction(1000), "1e3"),
    ("fraction", "0.5", Fraction(1, 2), "500m"),
    ("int", 2, Fraction(2), "2"),
    ("float", 0.25, Fraction(1, 4), "250m"),
    ("decimal-canonical-kilo", "1000", Fraction(1000), "1k"),
    ("binary-canonical-up", "2048Mi", Fraction(2 * 2**30), "2Gi"),
    ("binary-fraction-down", "1.5Gi", Fraction(3 * 2**29), "1536Mi"),
    ("milli-whole", "1000m", Fraction(1), "1"),
    ("micro", "0.0001", Fraction(1, 10000), "100u"),
    ("negative", "-1", Fraction(-1), "-1"),
]


@pytest.mark.parametrize("text, value, canonical", [q[1:] for q in QUANTITIES], ids=[q[0] for q in QUANTITIES])
def test_quantity_parse_and_format(text: Any, value: Fraction, canonical: str) -> None:
    assert quantity.parse_quantity(text) == value
    assert quantity.format_quantity(text) == canonical


@pytest.mark.parametrize("text", ["abc", "1Gb", "", "1.2.3", "Gi", True], ids=["word", "bad-suffix", "empty",
                                                                               "two-dots", "suffix-only", "bool"])
def test_quantity_rejects_malformed(text: Any) -> None:
    with pytest.raises(quantity.QuantityError, match="quantities must match the regular expression"):
        quantity.parse_quantity(text)
