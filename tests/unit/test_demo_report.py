"""The demo's pure parts: the observer's bookkeeping of pod lives and the closing table."""

from __future__ import annotations

from kubeproc.demo import report
from kubeproc.demo.observe import Observer


def pod(name: str, uid: str, ready: bool = False, deleting: bool = False) -> dict:
    meta = {"name": name, "uid": uid, "resourceVersion": "1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"podIP": "10.0.0.1",
                                         "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def test_observer_times_each_life_of_a_pod_name() -> None:
    obs = Observer(api=None, namespace="default")  # type: ignore[arg-type]
    obs._seen(pod("r-0", "u1"), 1.0, "ADDED")
    obs._seen(pod("r-0", "u1", ready=True), 2.0, "MODIFIED")
    obs._seen(pod("r-0", "u1", ready=True, deleting=True), 3.0, "MODIFIED")
    obs._seen(pod("r-0", "u1", ready=True, deleting=True), 4.0, "DELETED")
    obs._seen(pod("r-0", "u2"), 5.0, "ADDED")  # recreated: same name, a new life
    lives = obs.snapshot("r-")
    assert [(lf.uid, lf.created, lf.ready, lf.deleting, lf.gone) for lf in lives] == [
        ("u1", 1.0, 2.0, 3.0, 4.0), ("u2", 5.0, None, None, None)]
    assert obs.current("r-0").uid == "u2" and [lf.uid for lf in obs.alive("r-")] == ["u2"]
    obs._seen(pod("x", "u9"), 6.0, "DELETED")  # a deletion of a pod never seen adds nothing
    assert obs.current("x") is None


def test_report_rows_come_from_measurements() -> None:
    m = {"web_claims": ["web-shared"], "redis_claims": ["data-test-redis-pod-0"],
         "redis_back": {"data_kept": True, "claim": ["data-test-redis-pod-0"], "old_ip": "10.0.0.5",
                        "new_ip": "10.0.0.9"},
         "kv_lost": {"kvp": 23, "kv": 0}, "web_replacement": ("web-a", "web-b"), "web_answering": 3,
         "roles": {"test-redis-pod-0": "master"}, "dns_name": "test-redis-pod-0.x", "replicas_connected": 2,
         "web_spread": 0.004, "redis_in_order": True, "web_scale_spread": 0.002, "redis_scale_ordered": True}
    text = " ".join(" ".join(r) for r in report.rows(m))
    assert "web-shared" in report.render(m)
    assert [r[0] for r in report.rows(m)] == ["data", "results", "relationships", "impact of a loss",
                                              "examples", "resources", "creation", "scale-down"]
    for fact in ("web-shared", "10.0.0.5 → 10.0.0.9", "loses 23 keys", "loses 0 keys", "within 4 ms",
                 "web-a → web-b", "(2 connected)"):
        assert fact in text, fact
    m["redis_scale_ordered"] = False
    assert "order not kept" in " ".join(" ".join(r) for r in report.rows(m))
