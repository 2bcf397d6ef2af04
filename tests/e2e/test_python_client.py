"""The official `kubernetes` Python client against kubeproc: typed CRUD, patch and watch."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


@pytest.fixture
def api(cluster):
    cfg = client.Configuration()
    config.load_kube_config(config_file=cluster.kubeconfig, client_configuration=cfg)
    with client.ApiClient(cfg) as api_client:
        yield api_client


def _statefulset(name: str) -> client.V1StatefulSet:
    return client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name=name, labels={"app": name}),
        spec=client.V1StatefulSetSpec(
            service_name=name, replicas=3,
            selector=client.V1LabelSelector(match_labels={"app": name}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="redis", image="redis:7")])),
            volume_claim_templates=[client.V1PersistentVolumeClaim(
                metadata=client.V1ObjectMeta(name="data"),
                spec=client.V1PersistentVolumeClaimSpec(
                    access_modes=["ReadWriteOnce"],
                    resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"})))]))


def test_typed_create_read_patch_delete(api, namespace):
    apps = client.AppsV1Api(api)
    created = apps.create_namespaced_stateful_set(namespace, _statefulset("web"))
    assert created.metadata.uid and created.metadata.generation == 1
    # upstream defaults come back typed
    assert created.spec.pod_management_policy == "OrderedReady"
    assert created.spec.update_strategy.type == "RollingUpdate"
    assert created.spec.update_strategy.rolling_update.partition == 0
    assert created.spec.revision_history_limit == 10
    got = apps.read_namespaced_stateful_set("web", namespace)
    assert got.metadata.resource_version == created.metadata.resource_version
    patched = apps.patch_namespaced_stateful_set("web", namespace, {"spec": {"replicas": 1}})
    assert patched.spec.replicas == 1 and patched.metadata.generation == 2
    scale = apps.read_namespaced_stateful_set_scale("web", namespace)
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_stateful_set("web", namespace, {"spec": {"serviceName": "other"}})
    assert err.value.status == 422
    assert "Forbidden: updates to statefulset spec for fields other than" in err.value.body
    apps.delete_namespaced_stateful_set("web", namespace)
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_stateful_set("web", namespace)
    assert err.value.status == 404


def test_conflict_on_stale_update(api, namespace):
    core = client.CoreV1Api(api)
    cm = core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="c"), data={"k": "1"}))
    cm.data = {"k": "2"}
    core.replace_namespaced_config_map("c", namespace, cm)
    cm.data = {"k": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("c", namespace, cm)
    assert err.value.status == 409
    assert "the object has been modified" in err.value.body


def test_watch_sees_added_modified_deleted(api, namespace):
    core = client.CoreV1Api(api)
    start_rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def consume():
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, namespace,
                           resource_version=start_rv, timeout_seconds=20):
            seen.append((ev["type"], ev["object"].metadata.name))
            if ev["type"] == "DELETED":
                w.stop()
        done.set()
    t = threading.Thread(target=consume, daemon=True)
    t.start()
    core.create_namespaced_config_map(namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="w"), data={"a": "b"}))
    core.patch_namespaced_config_map("w", namespace, {"data": {"a": "c"}})
    core.delete_namespaced_config_map("w", namespace)
    assert done.wait(20), seen
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]
