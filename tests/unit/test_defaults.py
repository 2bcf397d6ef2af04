"""Defaulting (apply_defaults) and create-time mutations (admit_defaults) against what a real
Kubernetes 1.33 API server returns. Whole-object cases use the bodies kubectl sends and the
objects `kubectl get -o yaml` shows (server-set metadata such as uid/resourceVersion, allocated
cluster IPs / node ports and the service-account token volume are out of scope and omitted)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeproc.api.admission import admit_defaults
from kubeproc.api.admission_pod import parse_quantity, pod_qos_class
from kubeproc.api.defaults import apply_defaults
from kubeproc.api.defaults_pod import default_pull_policy
from kubeproc.api.errors import Forbidden

DEFAULTED_CONTAINER = {
    "imagePullPolicy": "Always",
    "resources": {},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}
TEMPLATE_SPEC_DEFAULTS = {
    "dnsPolicy": "ClusterFirst",
    "restartPolicy": "Always",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
}
DEFAULT_TOLERATIONS = [
    {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
     "tolerationSeconds": 300},
    {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists",
     "tolerationSeconds": 300},
]

# --- whole objects: what kubectl sends -> what the cluster stores and returns ---------------

KUBECTL_CREATE_DEPLOYMENT = {  # kubectl create deployment web --image=nginx
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}},
        "strategy": {},
    },
    "status": {},
}
DEPLOYMENT_STORED = {
    "kind": "Deployment", "apiVersion": "apps/v1",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
                     "type": "RollingUpdate"},
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "web"}},
            "spec": {"containers": [{"image": "nginx", "name": "nginx", **DEFAULTED_CONTAINER}],
                     **TEMPLATE_SPEC_DEFAULTS},
        },
    },
    "status": {},
}

KUBECTL_RUN_POD = {  # kubectl run nginx --image=nginx
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "nginx", "labels": {"run": "nginx"}},
    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
             "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"},
    "status": {},
}
POD_STORED = {
    "kind": "Pod", "apiVersion": "v1",
    "metadata": {"name": "nginx", "labels": {"run": "nginx"}},
    "spec": {
        "containers": [{"image": "nginx", "name": "nginx", **DEFAULTED_CONTAINER}],
        **TEMPLATE_SPEC_DEFAULTS,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "priority": 0,
        "serviceAccount": "default",
        "serviceAccountName": "default",
        "tolerations": DEFAULT_TOLERATIONS,
    },
    "status": {"phase": "Pending", "qosClass": "BestEffort"},
}

STATEFULSET_DOC = {  # docs: concepts/workloads/controllers/statefulset "web"
    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "nginx"}}, "serviceName": "nginx", "replicas": 3,
        "minReadySeconds": 10,
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "terminationGracePeriodSeconds": 10,
                "containers": [{
                    "name": "nginx", "image": "registry.k8s.io/nginx-slim:0.24",
                    "ports": [{"containerPort": 80, "name": "web"}],
                    "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}],
                }],
            },
        },
        "volumeClaimTemplates": [{
            "metadata": {"name": "www"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "my-storage-class",
                     "resources": {"requests": {"storage": "1Gi"}}},
        }],
    },
}
STATEFULSET_STORED = {
    "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
    "spec": {
        "minReadySeconds": 10,
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        "podManagementPolicy": "OrderedReady", "replicas": 3, "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "nginx"}}, "serviceName": "nginx",
        "template": {
            "metadata": {"creationTimestamp": None, "labels": {"app": "nginx"}},
            "spec": {
                "containers": [{
                    "image": "registry.k8s.io/nginx-slim:0.24", "imagePullPolicy": "IfNotPresent",
                    "name": "nginx",
                    "ports": [{"containerPort": 80, "name": "web", "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "volumeMounts": [{"mountPath": "/usr/share/nginx/html", "name": "www"}],
                }],
                **TEMPLATE_SPEC_DEFAULTS,
                "terminationGracePeriodSeconds": 10,
            },
        },
        "updateStrategy": {"rollingUpdate": {"partition": 0}, "type": "RollingUpdate"},
        "volumeClaimTemplates": [{
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"creationTimestamp": None, "name": "www"},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "1Gi"}},
                     "storageClassName": "my-storage-class", "volumeMode": "Filesystem"},
            "status": {"phase": "Pending"},
        }],
    },
    "status": {"availableReplicas": 0, "replicas": 0},
}

KUBECTL_CREATE_SERVICE = {  # kubectl create service clusterip web --tcp=80:8080
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
             "selector": {"app": "web"}, "type": "ClusterIP"},
    "status": {"loadBalancer": {}},
}
SERVICE_STORED = {  # clusterIP / clusterIPs are allocated by the registry, not here
    "kind": "Service", "apiVersion": "v1",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {
        "internalTrafficPolicy": "Cluster", "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "80-8080", "port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": "web"}, "sessionAffinity": "None", "type": "ClusterIP",
    },
    "status": {"loadBalancer": {}},
}

RC_DOC = {  # docs: concepts/workloads/controllers/replicationcontroller
    "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "nginx"},
    "spec": {
        "replicas": 3, "selector": {"app": "nginx"},
        "template": {
            "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                     "ports": [{"containerPort": 80}]}]},
        },
    },
}
RC_STORED = {
    "apiVersion": "v1", "kind": "ReplicationController",
    "metadata": {"name": "nginx", "labels": {"app": "nginx"}},
    "spec": {
        "replicas": 3, "selector": {"app": "nginx"},
        "template": {
            "metadata": {"creationTimestamp": None, "name": "nginx", "labels": {"app": "nginx"}},
            "spec": {"containers": [{"image": "nginx", "name": "nginx",
                                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                                     **DEFAULTED_CONTAINER}],
                     **TEMPLATE_SPEC_DEFAULTS},
        },
    },
    "status": {"replicas": 0},
}


@pytest.mark.parametrize("sent,stored", [
    (KUBECTL_CREATE_DEPLOYMENT, DEPLOYMENT_STORED),
    (KUBECTL_RUN_POD, POD_STORED),
    (STATEFULSET_DOC, STATEFULSET_STORED),
    (KUBECTL_CREATE_SERVICE, SERVICE_STORED),
    (RC_DOC, RC_STORED),
], ids=["deployment-kubectl-create", "pod-kubectl-run", "statefulset-docs-web",
        "service-kubectl-create-clusterip", "rc-docs-nginx"])
def test_create_yields_real_cluster_object(sent: dict[str, Any], stored: dict[str, Any]) -> None:
    before = copy.deepcopy(sent)
    assert admit_defaults(sent) == stored
    assert sent == before  # input untouched


@pytest.mark.parametrize("obj", [
    DEPLOYMENT_STORED, POD_STORED, STATEFULSET_STORED, SERVICE_STORED, RC_STORED,
], ids=["deployment", "pod", "statefulset", "service", "rc"])
def test_defaulting_is_idempotent_on_stored_objects(obj: dict[str, Any]) -> None:
    assert apply_defaults(obj) == obj
    assert admit_defaults(obj) == obj


def test_apply_defaults_is_not_admission() -> None:
    # on update, no service account / tolerations / priority / status reset is applied
    out = apply_defaults(KUBECTL_RUN_POD)
    assert "serviceAccountName" not in out["spec"]
    assert "tolerations" not in out["spec"] and "priority" not in out["spec"]
    assert out["status"] == {}
    assert out["spec"]["enableServiceLinks"] is True


# --- rule tables --------------------------------------------------------------------------

def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


@pytest.mark.parametrize("image,policy", [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:v1", "IfNotPresent"),
    ("nginx@sha256:" + "a" * 64, "IfNotPresent"), ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ("", "IfNotPresent"),
], ids=["untagged", "latest", "tagged", "registry-port-untagged", "registry-port-tagged",
        "digest-only", "latest-with-digest", "empty"])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy


def test_explicit_pull_policy_kept() -> None:
    out = apply_defaults(_pod({"containers": [{"name": "c", "image": "x", "imagePullPolicy": "Never"}]}))
    assert out["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize("probe,expected", [
    ({"exec": {"command": ["true"]}},
     {"exec": {"command": ["true"]}, "timeoutSeconds": 1, "periodSeconds": 10,
      "successThreshold": 1, "failureThreshold": 3}),
    ({"httpGet": {"port": 80}, "periodSeconds": 5},
     {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
      "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3}),
    ({"grpc": {"port": 2379}, "failureThreshold": 8},
     {"grpc": {"port": 2379, "service": ""}, "timeoutSeconds": 1, "periodSeconds": 10,
      "successThreshold": 1, "failureThreshold": 8}),
], ids=["exec-thresholds", "httpget-path-scheme", "grpc-service"])
def test_probe_defaults(probe: dict[str, Any], expected: dict[str, Any]) -> None:
    out = apply_defaults(_pod({"containers": [{"name": "c", "image": "x", "livenessProbe": probe,
                                               "startupProbe": probe}]}))
    assert out["spec"]["containers"][0]["livenessProbe"] == expected
    assert out["spec"]["containers"][0]["startupProbe"] == expected


def test_lifecycle_httpget_and_env_fieldref() -> None:
    container = {"name": "c", "image": "x",
                 "lifecycle": {"preStop": {"httpGet": {"port": 8080}}},
                 "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}
    out = apply_defaults(_pod({"initContainers": [container]}))["spec"]["initContainers"][0]
    assert out["lifecycle"]["preStop"]["httpGet"] == {"port": 8080, "path": "/", "scheme": "HTTP"}
    assert out["env"][0]["valueFrom"]["fieldRef"] == {"fieldPath": "metadata.name",
                                                       "apiVersion": "v1"}


@pytest.mark.parametrize("volume,expected", [
    ({"name": "v"}, {"name": "v", "emptyDir": {}}),
    ({"name": "v", "secret": {"secretName": "s"}},
     {"name": "v", "secret": {"secretName": "s", "defaultMode": 420}}),
    ({"name": "v", "configMap": {"name": "c", "defaultMode": 256}},
     {"name": "v", "configMap": {"name": "c", "defaultMode": 256}}),
    ({"name": "v", "hostPath": {"path": "/data"}},
     {"name": "v", "hostPath": {"path": "/data", "type": ""}}),
    ({"name": "v", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
     {"name": "v", "downwardAPI": {"defaultMode": 420, "items": [
         {"path": "l", "fieldRef": {"fieldPath": "metadata.labels", "apiVersion": "v1"}}]}}),
    ({"name": "v", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
     {"name": "v", "projected": {"defaultMode": 420, "sources": [
         {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]}}),
    ({"name": "v", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
     {"name": "v", "ephemeral": {"volumeClaimTemplate": {
         "metadata": {"creationTimestamp": None},
         "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem", "resources": {}}}}}),
], ids=["no-source-emptydir", "secret-mode-420", "configmap-explicit-mode-kept",
        "hostpath-type-unset", "downwardapi-mode-and-fieldref", "projected-token-expiry",
        "ephemeral-claim-volumemode"])
def test_volume_defaults(volume: dict[str, Any], expected: dict[str, Any]) -> None:
    out = apply_defaults(_pod({"containers": [], "volumes": [volume]}))
    assert out["spec"]["volumes"] == [expected]


def test_pod_only_defaults_not_in_templates() -> None:
    container = {"name": "c", "image": "x", "ports": [{"containerPort": 8080}],
                 "resources": {"limits": {"cpu": "500m"}}}
    pod = apply_defaults(_pod({"hostNetwork": True, "containers": [copy.deepcopy(container)]}))
    pc = pod["spec"]["containers"][0]
    assert pc["resources"] == {"limits": {"cpu": "500m"}, "requests": {"cpu": "500m"}}
    assert pc["ports"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "TCP"}]
    rs = apply_defaults({"apiVersion": "apps/v1", "kind": "ReplicaSet", "spec": {
        "template": {"spec": {"hostNetwork": True, "containers": [copy.deepcopy(container)]}}}})
    tspec = rs["spec"]["template"]["spec"]
    assert tspec["containers"][0]["resources"] == {"limits": {"cpu": "500m"}}
    assert tspec["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert "enableServiceLinks" not in tspec
    assert rs["spec"]["replicas"] == 1 and rs["status"] == {"replicas": 0}


def test_service_account_conversion_mirrors_deprecated_field() -> None:
    out = apply_defaults(_pod({"containers": [], "serviceAccount": "builder"}))
    assert out["spec"]["serviceAccountName"] == "builder"
    assert out["spec"]["serviceAccount"] == "builder"


def _svc(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize("spec,expected", [
    ({"ports": [{"port": 80, "targetPort": "http"}]},
     {"ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}], "type": "ClusterIP",
      "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}),
    ({"ports": [{"port": 53, "protocol": "UDP", "targetPort": 0}]},
     {"ports": [{"port": 53, "protocol": "UDP", "targetPort": 53}], "type": "ClusterIP",
      "sessionAffinity": "None", "internalTrafficPolicy": "Cluster"}),
    ({"type": "NodePort", "sessionAffinity": "ClientIP"},
     {"type": "NodePort", "sessionAffinity": "ClientIP",
      "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}},
      "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
    ({"type": "LoadBalancer", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}},
     {"type": "LoadBalancer", "sessionAffinity": "None", "externalTrafficPolicy": "Cluster",
      "internalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True}),
    ({"type": "ExternalName", "externalName": "example.com"},
     {"type": "ExternalName", "externalName": "example.com", "sessionAffinity": "None"}),
    ({"externalIPs": ["1.2.3.4"]},
     {"externalIPs": ["1.2.3.4"], "type": "ClusterIP", "sessionAffinity": "None",
      "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
], ids=["named-targetport-kept", "zero-targetport-is-port", "nodeport-clientip-timeout",
        "loadbalancer-none-affinity-drops-config", "externalname-no-traffic-policies",
        "clusterip-with-externalips-external-policy"])
def test_service_defaults(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    out = apply_defaults(_svc(spec))
    assert out["spec"] == expected
    assert out["status"] == {"loadBalancer": {}}


def test_loadbalancer_ingress_ip_mode() -> None:
    out = apply_defaults(_svc({"type": "LoadBalancer"},
                              {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}, {"hostname": "h"}]}}))
    assert out["status"]["loadBalancer"]["ingress"] == [{"ip": "10.0.0.1", "ipMode": "VIP"},
                                                        {"hostname": "h"}]


@pytest.mark.parametrize("spec,policy,families", [
    ({"selector": {"a": "b"}}, "SingleStack", ["IPv4"]),
    ({"clusterIP": "None", "selector": {"a": "b"}}, "SingleStack", ["IPv4"]),
    ({"clusterIP": "None"}, "RequireDualStack", ["IPv4", "IPv6"]),
    ({"type": "NodePort", "clusterIP": "fd00::10"}, "SingleStack", ["IPv6"]),
    ({"ipFamilyPolicy": "PreferDualStack"}, "PreferDualStack", ["IPv4"]),
], ids=["clusterip-singlestack", "headless-with-selector", "headless-selectorless-dualstack",
        "family-from-given-ip", "prefer-dual-on-single-stack-cluster"])
def test_service_ip_families_on_create(spec: dict[str, Any], policy: str,
                                       families: list[str]) -> None:
    out = admit_defaults(_svc(spec, {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}))
    assert out["spec"]["ipFamilyPolicy"] == policy
    assert out["spec"]["ipFamilies"] == families
    assert out["status"] == {"loadBalancer": {}}  # client-sent status is discarded
    if spec.get("clusterIP"):
        assert out["spec"]["clusterIPs"] == [spec["clusterIP"]]


def test_external_name_service_gets_no_ip_families() -> None:
    out = admit_defaults(_svc({"type": "ExternalName", "externalName": "x.example"}))
    assert "ipFamilies" not in out["spec"] and "ipFamilyPolicy" not in out["spec"]


@pytest.mark.parametrize("strategy,expected", [
    ({"type": "Recreate"}, {"type": "Recreate"}),
    ({"rollingUpdate": {"maxSurge": 1}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}),
], ids=["recreate-no-rolling", "int-surge-kept", "zero-unavailable-kept"])
def test_deployment_strategy(strategy: dict[str, Any], expected: dict[str, Any]) -> None:
    out = apply_defaults({"apiVersion": "apps/v1", "kind": "Deployment",
                          "spec": {"replicas": 0, "strategy": strategy}})
    assert out["spec"]["strategy"] == expected
    assert out["spec"]["replicas"] == 0  # explicit zero is not nil


@pytest.mark.parametrize("update,expected", [
    ({"type": "RollingUpdate"}, {"type": "RollingUpdate"}),
    ({"type": "OnDelete"}, {"type": "OnDelete"}),
    ({"rollingUpdate": {"partition": 2}}, {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}),
    ({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
     {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2, "partition": 0}}),
], ids=["explicit-type-no-rolling-block", "ondelete", "partition-kept",
        "maxunavailable-not-defaulted-gate-off"])
def test_statefulset_update_strategy(update: dict[str, Any], expected: dict[str, Any]) -> None:
    out = apply_defaults({"apiVersion": "apps/v1", "kind": "StatefulSet",
                          "spec": {"updateStrategy": update,
                                   "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}}})
    assert out["spec"]["updateStrategy"] == expected
    assert out["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete",
                                                                   "whenScaled": "Retain"}


@pytest.mark.parametrize("obj,expected", [
    ({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
      "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}},
     {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
      "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d", "type": ""},
               "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
      "status": {"phase": "Pending"}}),
    ({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
      "spec": {"resources": {"requests": {"storage": "1Gi"}}}},
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
      "spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"},
      "status": {"phase": "Pending"}}),
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"}},
     {"apiVersion": "v1", "kind": "Namespace",
      "metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
      "spec": {}, "status": {"phase": "Active"}}),
    ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
      "stringData": {"user": "admin"}, "data": {"user": "b2xk", "k": "dg=="}},
     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque",
      "data": {"user": "YWRtaW4=", "k": "dg=="}}),
    ({"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
      "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]},
     {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "e"},
      "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]}),
    ({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
      "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 80}]},
     {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
      "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {}}],
      "ports": [{"port": 80, "name": "", "protocol": "TCP"}]}),
    ({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "p"},
     {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "p",
      "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}),
    ({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": 1}},
     {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "spec": {"minAvailable": 1},
      "status": {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                 "expectedPods": 0}}),
    ({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
      "status": {"capacity": {"cpu": "4"}}},
     {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {},
      "status": {"capacity": {"cpu": "4"}, "allocatable": {"cpu": "4"},
                 "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                 "nodeInfo": {k: "" for k in (
                     "machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                     "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
                     "operatingSystem", "architecture")}}}),
    ({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "X"},
     {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "reason": "X",
      "involvedObject": {}, "source": {}, "firstTimestamp": None, "lastTimestamp": None,
      "eventTime": None, "reportingComponent": "", "reportingInstance": ""}),
    ({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}},
     {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
      "spec": {}}),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    ({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"replicas": None}},
     {"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"replicas": None}}),
    ({"apiVersion": "apps/v1beta1", "kind": "Deployment", "spec": {}},
     {"apiVersion": "apps/v1beta1", "kind": "Deployment", "spec": {}}),
], ids=["pv-retain-filesystem-pending", "pvc-filesystem-pending", "namespace-name-label-active",
        "secret-opaque-stringdata-wins", "endpoints-port-tcp", "endpointslice-port-name-tcp",
        "storageclass-delete-immediate", "pdb-status-zero-counters", "node-allocatable-and-info",
        "event-always-encoded-fields", "lease-spec", "configmap-unchanged", "unknown-kind-unchanged",
        "unserved-version-unchanged"])
def test_kind_defaults(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    assert apply_defaults(obj) == expected


def test_list_items_defaulted_without_typemeta() -> None:
    out = apply_defaults({"apiVersion": "v1", "kind": "SecretList",
                          "items": [{"metadata": {"name": "a"}}]})
    assert out["items"] == [{"metadata": {"name": "a"}, "type": "Opaque"}]


def test_rc_selector_and_labels_from_template_only_when_unset() -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController",
          "metadata": {"name": "r", "labels": {"tier": "web"}},
          "spec": {"template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": []}}}}
    out = apply_defaults(rc)
    assert out["metadata"]["labels"] == {"tier": "web"}
    assert out["spec"]["selector"] == {"app": "x"} and out["spec"]["replicas"] == 1


# --- admission / registry create-time mutations -----------------------------------------------

@pytest.mark.parametrize("containers,qos", [
    ([{"name": "a", "image": "x"}], "BestEffort"),
    ([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}],
     "Guaranteed"),
    ([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"},
                                                 "requests": {"cpu": "1000m", "memory": "1024Mi"}}}],
     "Guaranteed"),
    ([{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}], "Burstable"),
    ([{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}], "Burstable"),
    ([{"name": "a", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}], "BestEffort"),
], ids=["no-resources", "limits-only-copied-to-requests", "equal-in-other-units",
        "requests-only", "cpu-limit-only", "extended-resource-ignored"])
def test_pod_qos_class(containers: list[dict[str, Any]], qos: str) -> None:
    out = admit_defaults(_pod({"containers": containers}))
    assert out["status"] == {"phase": "Pending", "qosClass": qos}
    assert pod_qos_class(out["spec"]) == qos


@pytest.mark.parametrize("text,value", [
    ("100m", 0.1), ("1Gi", 2**30), ("1.5", 1.5), ("2e3", 2000), ("1k", 1000), ("bad", 0),
], ids=["milli", "binary", "decimal", "exponent", "kilo", "unparsable-zero"])
def test_parse_quantity(text: str, value: float) -> None:
    assert float(parse_quantity(text)) == value


@pytest.mark.parametrize("tolerations,expected", [
    ([{"operator": "Exists"}], [{"operator": "Exists"}]),
    ([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 10}],
     [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
       "tolerationSeconds": 10}, DEFAULT_TOLERATIONS[1]]),
    ([{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"}],
     [{"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"},
      *DEFAULT_TOLERATIONS]),
], ids=["tolerate-everything", "existing-not-ready-kept", "unrelated-toleration"])
def test_default_toleration_seconds(tolerations: list[dict[str, Any]],
                                    expected: list[dict[str, Any]]) -> None:
    out = admit_defaults(_pod({"containers": [], "tolerations": tolerations}))
    assert out["spec"]["tolerations"] == expected


@pytest.mark.parametrize("spec,priority", [
    ({"priorityClassName": "system-node-critical"}, 2000001000),
    ({"priorityClassName": "system-cluster-critical"}, 2000000000),
    ({"priority": 0}, 0),
], ids=["system-node-critical", "system-cluster-critical", "explicit-matching-zero"])
def test_priority_admission(spec: dict[str, Any], priority: int) -> None:
    out = admit_defaults(_pod({"containers": [], **spec}))
    assert out["spec"]["priority"] == priority
    assert out["spec"]["preemptionPolicy"] == "PreemptLowerPriority"


@pytest.mark.parametrize("spec,message", [
    ({"priorityClassName": "gold"}, "no PriorityClass with name gold was found"),
    ({"priority": 5}, "the integer value of priority (5) must not be provided"),
], ids=["unknown-class", "mismatching-priority"])
def test_priority_admission_forbidden(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(Forbidden) as err:
        admit_defaults(_pod({"containers": [], **spec}))
    assert message in err.value.message
    assert err.value.message.startswith('pods "p" is forbidden: ')


def test_scheduling_gated_condition_and_explicit_service_account() -> None:
    out = admit_defaults(_pod({"containers": [], "serviceAccountName": "robot",
                               "schedulingGates": [{"name": "g"}]}))
    assert out["spec"]["serviceAccount"] == "robot"
    assert out["status"]["conditions"] == [{
        "type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
        "message": "Scheduling is blocked due to non-empty scheduling gates",
        "lastProbeTime": None, "lastTransitionTime": None}]


@pytest.mark.parametrize("obj,expected", [
    ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dev"},
      "status": {"phase": "Terminating"}},
     {"apiVersion": "v1", "kind": "Namespace",
      "metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}},
      "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}),
    ({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
      "status": {"phase": "Bound"}},
     {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
      "metadata": {"name": "c", "finalizers": ["kubernetes.io/pvc-protection"]},
      "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}},
               "volumeMode": "Filesystem", "storageClassName": "standard"},
      "status": {"phase": "Pending"}}),
    ({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv"},
      "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d"}}},
     {"apiVersion": "v1", "kind": "PersistentVolume",
      "metadata": {"name": "pv", "finalizers": ["kubernetes.io/pv-protection"]},
      "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/d", "type": ""},
               "persistentVolumeReclaimPolicy": "Retain", "volumeMode": "Filesystem"},
      "status": {"phase": "Pending", "lastPhaseTransitionTime": "2025-01-02T03:04:05Z"}}),
    ({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"},
      "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
      "status": {"replicas": 7, "readyReplicas": 7}},
     {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"},
      "spec": {"replicas": 2, "template": {"metadata": {"creationTimestamp": None},
                                           "spec": {"containers": [], **TEMPLATE_SPEC_DEFAULTS}}},
      "status": {"replicas": 0}}),
], ids=["namespace-finalizer-status-active", "pvc-protection-default-class-status-reset",
        "pv-protection-transition-time", "replicaset-status-reset"])
def test_registry_create_mutations(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    out = admit_defaults(obj, now="2025-01-02T03:04:05Z", default_storage_class="standard")
    assert out == expected


def test_node_create_gets_not_ready_taint() -> None:
    out = admit_defaults({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}})
    assert out["spec"]["taints"] == [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]


def test_storage_class_name_empty_string_not_replaced() -> None:
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "c"},
           "spec": {"storageClassName": ""}}
    out = admit_defaults(pvc, default_storage_class="standard")
    assert out["spec"]["storageClassName"] == ""
