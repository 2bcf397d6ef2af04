"""Defaulting of PodSpec and everything nested in it (containers, probes, volumes, env).

Shared by Pod itself and by every kind that embeds a pod template (ReplicationController,
Deployment, ReplicaSet, StatefulSet). Rules follow k8s.io/kubernetes pkg/apis/core/v1/defaults.go
and the declarative `+default` markers of k8s.io/api/core/v1/types.go, as wired by the generated
zz_generated.defaults.go of Kubernetes 1.33. All functions mutate the dict they are given.
"""

from __future__ import annotations

from typing import Any

# Keys of core/v1 VolumeSource; a volume with none of them gets emptyDir (SetDefaults_Volume).
VOLUME_SOURCE_KEYS = frozenset({
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral", "image",
})

_DEFAULT_MODE = 0o644  # 420: Secret/ConfigMap/DownwardAPI/Projected VolumeSourceDefaultMode


def set_if_empty(d: dict[str, Any], key: str, value: Any) -> None:
    """Default a Go value-typed field: zero ("" / 0 / false / absent / null) gets `value`."""
    if not d.get(key):
        d[key] = value


def set_if_nil(d: dict[str, Any], key: str, value: Any) -> None:
    """Default a Go pointer field: only absent or null gets `value` (explicit zero is kept)."""
    if d.get(key) is None:
        d[key] = value


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON list (tolerates null / wrong types, which validation rejects)."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict)]


def _sub(d: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = d.get(key)
    return value if isinstance(value, dict) else None


def image_tag(image: str) -> str:
    """The tag of an image reference as parsers.ParseImageName sees it.

    An untagged reference without digest means "latest"; a digest-only reference has no tag.
    """
    name, at, _digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return "" if at else "latest"


def default_pull_policy(image: Any) -> str:
    # core/v1 SetDefaults_Container: Always for :latest (or untagged), IfNotPresent otherwise.
    if not isinstance(image, str) or not image:
        return "IfNotPresent"  # ParseImageName fails -> empty tag -> IfNotPresent
    return "Always" if image_tag(image) == "latest" else "IfNotPresent"


def default_object_field_selector(ref: dict[str, Any]) -> None:
    # core/v1 SetDefaults_ObjectFieldSelector
    set_if_empty(ref, "apiVersion", "v1")


def default_http_get(action: dict[str, Any]) -> None:
    # core/v1 SetDefaults_HTTPGetAction
    set_if_empty(action, "path", "/")
    set_if_empty(action, "scheme", "HTTP")


def default_probe(probe: dict[str, Any]) -> None:
    # core/v1 SetDefaults_Probe (+ HTTPGetAction, and GRPCAction.service `+default=""`)
    set_if_empty(probe, "timeoutSeconds", 1)
    set_if_empty(probe, "periodSeconds", 10)
    set_if_empty(probe, "successThreshold", 1)
    set_if_empty(probe, "failureThreshold", 3)
    http = _sub(probe, "httpGet")
    if http is not None:
        default_http_get(http)
    grpc = _sub(probe, "grpc")
    if grpc is not None:
        set_if_nil(grpc, "service", "")


def default_container(container: dict[str, Any]) -> None:
    """Container / EphemeralContainer defaults (everything except Pod-only request copying)."""
    # core/v1 SetDefaults_Container
    if not container.get("imagePullPolicy"):
        container["imagePullPolicy"] = default_pull_policy(container.get("image"))
    set_if_empty(container, "terminationMessagePath", "/dev/termination-log")
    set_if_empty(container, "terminationMessagePolicy", "File")
    # ContainerPort.protocol `+default="TCP"` (k8s.io/api core/v1 types.go)
    for port in _dicts(container.get("ports")):
        set_if_empty(port, "protocol", "TCP")
    for env in _dicts(container.get("env")):
        value_from = _sub(env, "valueFrom")
        field_ref = _sub(value_from, "fieldRef") if value_from else None
        if field_ref is not None:
            default_object_field_selector(field_ref)
    for key in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = _sub(container, key)
        if probe is not None:
            default_probe(probe)
    lifecycle = _sub(container, "lifecycle")
    if lifecycle is not None:
        for hook_name in ("postStart", "preStop"):
            hook = _sub(lifecycle, hook_name)
            http = _sub(hook, "httpGet") if hook else None
            if http is not None:
                default_http_get(http)


def default_pvc_spec(spec: dict[str, Any]) -> None:
    # core/v1 SetDefaults_PersistentVolumeClaimSpec
    set_if_nil(spec, "volumeMode", "Filesystem")


def default_iscsi(src: dict[str, Any]) -> None:
    # ISCSI(Persistent)VolumeSource.iscsiInterface `+default="default"`
    set_if_empty(src, "iscsiInterface", "default")


def default_rbd(src: dict[str, Any]) -> None:
    # RBD(Persistent)VolumeSource pool/user/keyring `+default` markers
    set_if_empty(src, "pool", "rbd")
    set_if_empty(src, "user", "admin")
    set_if_empty(src, "keyring", "/etc/ceph/keyring")


def default_azure_disk(src: dict[str, Any]) -> None:
    # AzureDiskVolumeSource `+default` markers (cachingMode, fsType, readOnly, kind)
    set_if_nil(src, "cachingMode", "ReadWrite")
    set_if_nil(src, "fsType", "ext4")
    set_if_nil(src, "readOnly", False)
    set_if_nil(src, "kind", "Shared")


def default_scaleio(src: dict[str, Any]) -> None:
    # ScaleIO(Persistent)VolumeSource storageMode/fsType `+default` markers
    set_if_empty(src, "storageMode", "ThinProvisioned")
    set_if_empty(src, "fsType", "xfs")


def _default_downward_items(items: Any) -> None:
    for item in _dicts(items):
        ref = _sub(item, "fieldRef")
        if ref is not None:
            default_object_field_selector(ref)


def default_volume(volume: dict[str, Any]) -> None:
    """One pod volume: source defaults, and emptyDir when no source is given."""
    # core/v1 SetDefaults_Volume (ImageVolume gate is off by default in 1.33: no image pullPolicy)
    if not any(volume.get(k) is not None for k in VOLUME_SOURCE_KEYS):
        volume["emptyDir"] = {}
    host_path = _sub(volume, "hostPath")
    if host_path is not None:
        set_if_nil(host_path, "type", "")  # SetDefaults_HostPathVolumeSource: HostPathUnset
    for key in ("secret", "configMap"):
        src = _sub(volume, key)
        if src is not None:  # SetDefaults_SecretVolumeSource / SetDefaults_ConfigMapVolumeSource
            set_if_nil(src, "defaultMode", _DEFAULT_MODE)
    downward = _sub(volume, "downwardAPI")
    if downward is not None:  # SetDefaults_DownwardAPIVolumeSource
        set_if_nil(downward, "defaultMode", _DEFAULT_MODE)
        _default_downward_items(downward.get("items"))
    projected = _sub(volume, "projected")
    if projected is not None:  # SetDefaults_ProjectedVolumeSource
        set_if_nil(projected, "defaultMode", _DEFAULT_MODE)
        for source in _dicts(projected.get("sources")):
            down = _sub(source, "downwardAPI")
            if down is not None:
                _default_downward_items(down.get("items"))
            token = _sub(source, "serviceAccountToken")
            if token is not None:  # SetDefaults_ServiceAccountTokenProjection: one hour
                set_if_nil(token, "expirationSeconds", 3600)
    for key, fn in (("iscsi", default_iscsi), ("rbd", default_rbd),
                    ("azureDisk", default_azure_disk), ("scaleIO", default_scaleio)):
        src = _sub(volume, key)
        if src is not None:
            fn(src)
    ephemeral = _sub(volume, "ephemeral")
    template = _sub(ephemeral, "volumeClaimTemplate") if ephemeral else None
    spec = _sub(template, "spec") if template else None
    if spec is not None:
        default_pvc_spec(spec)


def default_pod_spec(spec: dict[str, Any]) -> None:
    """PodSpec defaults that apply to Pods and pod templates alike."""
    # core/v1 SetDefaults_PodSpec
    set_if_empty(spec, "dnsPolicy", "ClusterFirst")
    set_if_empty(spec, "restartPolicy", "Always")
    set_if_nil(spec, "securityContext", {})
    set_if_nil(spec, "terminationGracePeriodSeconds", 30)
    set_if_empty(spec, "schedulerName", "default-scheduler")
    for volume in _dicts(spec.get("volumes")):
        default_volume(volume)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _dicts(spec.get(key)):
            default_container(container)
    convert_service_account(spec)


def convert_service_account(spec: dict[str, Any]) -> None:
    """The v1<->internal PodSpec round trip mirrors serviceAccountName into serviceAccount."""
    # core/v1 conversion.go Convert_v1_PodSpec_To_core_PodSpec / Convert_core_PodSpec_To_v1_PodSpec
    name = spec.get("serviceAccountName") or spec.get("serviceAccount") or ""
    if name:
        spec["serviceAccountName"] = name
        spec["serviceAccount"] = name
    else:
        spec.pop("serviceAccountName", None)
        spec.pop("serviceAccount", None)


def default_pod_only(spec: dict[str, Any]) -> None:
    """Defaults that materialise only on a Pod, never in pod templates."""
    # core/v1 SetDefaults_Pod: requests default to limits for containers and init containers
    for key in ("containers", "initContainers"):
        for container in _dicts(spec.get(key)):
            resources = _sub(container, "resources")
            limits = _sub(resources, "limits") if resources else None
            if not isinstance(limits, dict) or not limits or resources is None:
                continue
            requests = resources.get("requests")
            if not isinstance(requests, dict):
                requests = resources["requests"] = {}
            for name, quantity in limits.items():
                requests.setdefault(name, quantity)
    # PodLevelResources is alpha (off) in 1.33, so no pod-level resource defaulting.
    set_if_nil(spec, "enableServiceLinks", True)
    if spec.get("hostNetwork"):  # defaultHostNetworkPorts
        for key in ("containers", "initContainers"):
            for container in _dicts(spec.get(key)):
                for port in _dicts(container.get("ports")):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort", 0)


def default_pod_template(template: Any) -> None:
    """A PodTemplateSpec embedded in a workload (PodSpec defaults, no Pod-only ones)."""
    if not isinstance(template, dict):
        return
    spec = _sub(template, "spec")
    if spec is not None:
        default_pod_spec(spec)
