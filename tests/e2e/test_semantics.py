"""Object semantics over raw HTTP: selectors, paging, generateName, finalizers, preconditions,
namespace deletion, immutable fields, deletecollection and watch bookmarks."""

from __future__ import annotations

import json
import urllib.request

from kubeproc.testing.instance import wait_for


def _cm(name: str, labels: dict | None = None, **meta) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels or {}, **meta}, "data": {"k": name}}


def test_label_field_selectors_and_paging(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        assert cluster.request("POST", base, _cm(f"c{i}", {"parity": "even" if i % 2 == 0 else "odd",
                                                           "i": str(i)}))[0] == 201
    code, body = cluster.request("GET", base + "?labelSelector=parity%3Deven")
    assert [i["metadata"]["name"] for i in body["items"]] == ["c0", "c2", "c4", "c6"]
    code, body = cluster.request("GET", base + "?labelSelector=i+in+(1,3),parity!=even")
    assert [i["metadata"]["name"] for i in body["items"]] == ["c1", "c3"]
    code, body = cluster.request("GET", base + "?fieldSelector=metadata.name%3Dc5")
    assert [i["metadata"]["name"] for i in body["items"]] == ["c5"]
    code, body = cluster.request("GET", base + "?fieldSelector=spec.bogus%3D1")
    assert code == 400 and body["message"] == "field label not supported: spec.bogus"
    names, token, pages = [], "", 0
    while True:
        code, body = cluster.request("GET", base + "?limit=3" + (f"&continue={token}" if token else ""))
        assert code == 200
        names += [i["metadata"]["name"] for i in body["items"]]
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            break
        assert body["metadata"]["remainingItemCount"] == 7 - len(names)
    assert names == [f"c{i}" for i in range(7)] and pages == 3


def test_generate_name_uid_and_resource_versions(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    code, a = cluster.request("POST", base, cm)
    code2, b = cluster.request("POST", base, cm)
    assert code == code2 == 201
    assert a["metadata"]["name"].startswith("gen-") and len(a["metadata"]["name"]) == 9
    assert a["metadata"]["name"] != b["metadata"]["name"]
    assert a["metadata"]["uid"] != b["metadata"]["uid"]
    assert int(b["metadata"]["resourceVersion"]) > int(a["metadata"]["resourceVersion"])
    assert a["metadata"]["creationTimestamp"].endswith("Z")


def test_finalizers_hold_deletion_until_removed(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    cluster.request("POST", base, _cm("fin", finalizers=["example.com/hold"]))
    code, body = cluster.request("DELETE", base + "/fin")
    assert code == 200 and body["metadata"]["deletionTimestamp"]
    code, body = cluster.request("GET", base + "/fin")
    assert code == 200 and body["metadata"]["finalizers"] == ["example.com/hold"]
    code, body = cluster.request("PATCH", base + "/fin", {"metadata": {"finalizers": None}},
                                 content_type="application/merge-patch+json")
    assert code == 200
    assert cluster.request("GET", base + "/fin")[0] == 404


def test_delete_preconditions_and_dry_run(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    _, obj = cluster.request("POST", base, _cm("pre"))
    code, body = cluster.request("DELETE", base + "/pre", {"preconditions": {"uid": "not-the-uid"}})
    assert code == 409 and "the UID in the precondition (not-the-uid) does not match" in body["message"]
    code, body = cluster.request("DELETE", base + "/pre?dryRun=All")
    assert code == 200
    assert cluster.request("GET", base + "/pre")[0] == 200
    code, _ = cluster.request("DELETE", base + "/pre", {"preconditions": {
        "uid": obj["metadata"]["uid"], "resourceVersion": obj["metadata"]["resourceVersion"]}})
    assert code == 200
    assert cluster.request("GET", base + "/pre")[0] == 404


def test_deletecollection_by_label(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        cluster.request("POST", base, _cm(name, {"tier": tier}))
    code, body = cluster.request("DELETE", base + "?labelSelector=tier%3Dx")
    assert code == 200
    _, body = cluster.request("GET", base)
    assert [i["metadata"]["name"] for i in body["items"]] == ["c"]


def test_deployment_selector_is_immutable_and_generation_tracks_spec(cluster, namespace):
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
           "spec": {"selector": {"matchLabels": {"app": "d"}},
                    "template": {"metadata": {"labels": {"app": "d", "v": "1"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    code, obj = cluster.request("POST", base, dep)
    assert code == 201 and obj["metadata"]["generation"] == 1
    code, body = cluster.request("PATCH", base + "/d", {"spec": {"selector": {"matchLabels": {"app": "d", "v": "1"}}}},
                                 content_type="application/merge-patch+json")
    assert code == 422
    assert any(c["field"] == "spec.selector" and "field is immutable" in c["message"]
               for c in body["details"]["causes"]), body
    code, obj = cluster.request("PATCH", base + "/d", {"metadata": {"labels": {"x": "y"}}},
                                content_type="application/merge-patch+json")
    assert obj["metadata"]["generation"] == 1  # metadata changes do not move generation
    code, obj = cluster.request("PATCH", base + "/d", {"spec": {"replicas": 4}},
                                content_type="application/merge-patch+json")
    assert obj["metadata"]["generation"] == 2
    code, obj = cluster.request("PATCH", base + "/d/status",
                                {"status": {"observedGeneration": 2, "replicas": 0}},
                                content_type="application/merge-patch+json")
    assert code == 200 and obj["status"]["observedGeneration"] == 2
    assert obj["metadata"]["generation"] == 2


def test_namespace_deletion_empties_the_namespace(cluster):
    code, _ = cluster.request("POST", "/api/v1/namespaces",
                              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    assert code == 201
    for i in range(3):
        cluster.request("POST", "/api/v1/namespaces/doomed/configmaps", _cm(f"c{i}"))
    code, body = cluster.request("DELETE", "/api/v1/namespaces/doomed")
    assert code == 200 and body["status"]["phase"] == "Terminating"
    code, body = cluster.request("POST", "/api/v1/namespaces/doomed/configmaps", _cm("late"))
    assert code in (403, 404), body
    wait_for(lambda: cluster.request("GET", "/api/v1/namespaces/doomed")[0] == 404,
             what="namespace doomed to be deleted")
    _, body = cluster.request("GET", "/api/v1/configmaps?fieldSelector=metadata.namespace%3Ddoomed")
    assert body["items"] == []


def _stream_lines(cluster, path: str) -> list[dict]:
    req = urllib.request.Request(cluster.url + path, headers={"Authorization": f"Bearer {cluster.token}"})
    with urllib.request.urlopen(req, context=cluster.context(), timeout=15) as resp:
        return [json.loads(line) for line in resp.read().splitlines() if line.strip()]


def test_watch_initial_events_and_bookmark(cluster, namespace):
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for n in ("a", "b"):
        cluster.request("POST", base, _cm(n))
    events = _stream_lines(cluster, base + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                                          "&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events[:2]] == \
        [("ADDED", "a"), ("ADDED", "b")]
    bookmark = events[2]
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    # resourceVersion "0": current state first, then nothing more within the timeout
    events = _stream_lines(cluster, base + "?watch=1&resourceVersion=0&timeoutSeconds=1")
    assert sorted(e["object"]["metadata"]["name"] for e in events) == ["a", "b"]


def test_eviction_respects_the_disruption_budget(cluster, namespace):
    pods = f"/api/v1/namespaces/{namespace}/pods"
    pdbs = f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets"
    ready = {"status": {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}

    def ready_pod(name: str) -> None:  # no node agent here: the test writes the kubelet's status
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "db"}},
               "spec": {"containers": [{"name": "c", "image": "redis"}]}}
        assert cluster.request("POST", pods, pod)[0] == 201
        assert cluster.request("PATCH", f"{pods}/{name}/status", ready,
                               content_type="application/merge-patch+json")[0] == 200

    def allowed() -> int | None:
        return (cluster.request("GET", pdbs + "/db")[1].get("status") or {}).get("disruptionsAllowed")
    ready_pod("p")
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "db"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}}}
    assert cluster.request("POST", pdbs, pdb)[0] == 201
    wait_for(lambda: cluster.request("GET", pdbs + "/db")[1].get("status", {}).get("currentHealthy") == 1,
             what="the disruption controller to count the pod")
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p"}}
    code, body = cluster.request("POST", pods + "/p/eviction", eviction)
    assert code == 429 and body["reason"] == "TooManyRequests", body
    assert "would violate the pod's disruption budget" in body["message"]
    assert cluster.request("GET", pods + "/p")[0] == 200
    ready_pod("q")
    wait_for(lambda: allowed() == 1, what="a second healthy pod to allow one disruption")
    code, body = cluster.request("POST", pods + "/p/eviction", eviction)
    assert code == 201, body
    assert cluster.request("GET", pods + "/p")[0] == 404
    # the eviction used the budget (disruptedPods records p until the controller sees it gone)
    wait_for(lambda: allowed() == 0, what="the budget used up")


def test_replication_controller_scale_subresource(cluster, namespace):
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 1, "selector": {"app": "rc"},
                   "template": {"metadata": {"labels": {"app": "rc"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    base = f"/api/v1/namespaces/{namespace}/replicationcontrollers"
    assert cluster.request("POST", base, rc)[0] == 201
    out = cluster.kubectl("-n", namespace, "scale", "rc", "rc", "--replicas=4").stdout
    assert out == "replicationcontroller/rc scaled\n"
    code, scale = cluster.request("GET", base + "/rc/scale")
    assert code == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 4 and scale["status"]["selector"] == "app=rc"
    code, body = cluster.request("PUT", base + "/rc/scale",
                                 {"apiVersion": "autoscaling/v1", "kind": "Scale",
                                  "metadata": {"name": "rc"}, "spec": {"replicas": -1}})
    assert code == 422 and body["details"]["causes"][0]["field"] == "spec.replicas"
