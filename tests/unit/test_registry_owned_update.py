"""PATCH-path updates default the object in place (it is the registry's own copy); the result
must be what the copying path gives, and the stored object must never be touched.

Checked for default_and_validate itself over varied objects, and end to end through two
registries: `update` (PUT: the caller's object, defaulted as a copy) against `patch_with`
(an owned object, defaulted in place), for kinds with and without a status subresource.
Async code runs under asyncio.run inside plain test functions (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import copy
import random
from pathlib import Path
from typing import Any

import pytest

from kubeproc.api import defaults, resources
from kubeproc.registry import checks
from kubeproc.registry.serviceips import ServiceIPs
from kubeproc.registry.registry import Registry, WriteOptions
from kubeproc.store.store import Store
from tests.unit.test_patch_fastpaths import make_object, mutate

_KINDS = {"Pod": ("", "Pod"), "Deployment": ("apps", "Deployment"),
          "StatefulSet": ("apps", "StatefulSet"), "Service": ("", "Service"),
          "ConfigMap": ("", "ConfigMap")}
CASES = [(kind, seed) for kind in _KINDS for seed in range(6)]


def _res(kind: str) -> resources.Resource:
    r = resources.by_kind(*_KINDS[kind])
    assert r is not None
    return r


def _ready(kind: str, seed: int) -> dict[str, Any]:
    obj = make_object(kind, seed)
    obj["metadata"].update(namespace="default", uid=f"u{seed}",
                           creationTimestamp="2026-01-01T00:00:00Z")
    return obj


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_owned_defaulting_equals_copying(kind: str, seed: int) -> None:
    old = _ready(kind, seed)
    new = mutate(old, seed)
    new["metadata"].update(uid=old["metadata"]["uid"], namespace="default")
    want = _outcome(lambda: checks.default_and_validate(_res(kind), copy.deepcopy(new), old, create=False))
    owned = copy.deepcopy(new)
    got = _outcome(lambda: checks.default_and_validate(_res(kind), owned, old, create=False, owned=True))
    assert got == want
    if got[0] == "ok":
        assert got[1] is owned


# make_object's odd branches and random values build objects the apiserver rejects on
# create; _valid_object undoes exactly those, so every end-to-end case starts from a stored
# object (and keeps the rest of what make_object varies: ports, env, resources, lists).
def _valid_container(c: dict[str, Any]) -> None:
    c.pop("bogus", None)  # undeclared field: strict decoding rejects it
    ports = c.get("ports")
    if ports is not None and not isinstance(ports, list):
        del c["ports"]  # a string for a list: not decodable
    elif ports:
        seen: set[tuple[Any, str]] = set()
        kept = []
        for p in ports:
            key = (p.get("containerPort"), p.get("protocol", "TCP"))
            if key[0] is not None and key not in seen:  # keyless and duplicated ports are invalid
                seen.add(key)
                kept.append(p)
        c["ports"] = kept
    res = c.get("resources") or {}
    requests, limits = res.get("requests"), res.get("limits")
    if requests and limits:  # random requests may exceed the limits
        requests.update({k: v for k, v in limits.items() if k in requests})


def _valid_object(kind: str, seed: int) -> dict[str, Any]:
    obj = make_object(kind, seed)
    spec = obj.get("spec") or {}
    pod_spec = spec.get("template", {}).get("spec", spec) if kind != "Service" else None
    if pod_spec is not None:
        containers = pod_spec.get("containers", []) + pod_spec.get("initContainers", [])
        for c in containers:
            _valid_container(c)
        mounted = {m["name"] for c in containers for m in c.get("volumeMounts", [])}
        volumes = pod_spec.get("volumes", [])
        missing = mounted - {v["name"] for v in volumes}
        if missing:  # a mount needs its volume
            pod_spec["volumes"] = volumes + [{"name": n, "emptyDir": {}} for n in sorted(missing)]
    if kind == "Service":  # odd seeds repeat the first port: duplicate names are invalid
        by_name = {p["name"]: p for p in reversed(spec["ports"])}
        spec["ports"] = [p for p in spec["ports"] if by_name[p["name"]] is p]
    return obj


def _valid_update(current: dict[str, Any], seed: int) -> dict[str, Any]:
    """mutate(current, seed) without the changes no kind but Pod can decode, so that most
    cases compare written objects (Pod spec changes stay: their rejection is compared)."""
    new = mutate(current, seed)
    spec = new.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("replicas"), float):
        spec["replicas"] = int(spec["replicas"])  # 1.0 does not decode into an int32
    if new["kind"] != "Pod" and new.get("status") != current.get("status"):
        new.pop("status", None)  # mutate's {"phase": ...} is a Pod status field
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
    return new


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # the same rejection either way
        return ("err", type(exc), str(exc))


def _strip_times(obj: Any) -> Any:
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata", {})
    for key in ("uid", "creationTimestamp", "resourceVersion"):
        meta.pop(key, None)
    for m in meta.get("managedFields") or []:
        m.pop("time", None)
    return obj


async def _both(tmp: Path, kind: str, seed: int) -> tuple[Any, Any, list[bytes]]:
    res = _res(kind)
    ns = resources.by_kind("", "Namespace")
    assert ns is not None
    results: list[Any] = []
    stored: list[bytes] = []
    for i, via_patch in enumerate((False, True)):
        store = Store(str(tmp / f"db{i}"))
        store.start()
        try:
            reg = Registry(store)
            reg.service_ips = ServiceIPs(rand=random.Random(seed))  # both sides get the same ClusterIP
            await reg.create(ns, "", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "default"}}, WriteOptions())
            base = _valid_object(kind, seed)
            base["metadata"].pop("uid", None)
            created = await reg.create(res, "default", base, WriteOptions(field_manager="t"))
            if "status" in base:  # give the stored object a status to keep
                status = copy.deepcopy(created)
                status["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]} \
                    if kind == "Pod" else {"observedGeneration": 1}
                await reg.update(res, "default", created["metadata"]["name"], status,
                                 WriteOptions(field_manager="t", subresource="status"))
            current = reg.get_obj(res, "default", created["metadata"]["name"])
            before = reg.get(res, "default", created["metadata"]["name"]).data
            new = _valid_update(current, seed)
            new["metadata"].pop("resourceVersion", None)
            opts = WriteOptions(field_manager="u")
            try:
                if via_patch:
                    out, _ = await reg.patch_with(res, "default", current["metadata"]["name"],
                                                  lambda _old: copy.deepcopy(new), opts)
                else:
                    out, _ = await reg.update(res, "default", current["metadata"]["name"],
                                              copy.deepcopy(new), opts)
                results.append(("ok", _strip_times(out)))
            except Exception as exc:
                results.append(("err", type(exc), str(exc)))
                assert reg.get(res, "default", current["metadata"]["name"]).data == before
            stored.append(reg.get(res, "default", current["metadata"]["name"]).data)
        finally:
            await store.close()
    return results[0], results[1], stored


@pytest.mark.parametrize("kind,seed", CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_patch_with_writes_what_update_writes(tmp_path: Path, kind: str, seed: int) -> None:
    by_update, by_patch, stored = asyncio.run(_both(tmp_path, kind, seed))
    assert by_patch == by_update
    import json
    a, b = (_strip_times(json.loads(d)) for d in stored)
    assert a == b


async def _noop_on_undefaulted_status(tmp: Path, via_patch: bool) -> tuple[str, dict[str, Any]]:
    svc = resources.by_kind("", "Service")
    assert svc is not None
    store = Store(str(tmp / ("p" if via_patch else "u")))
    store.start()
    try:
        reg = Registry(store)
        raw = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "s", "namespace": "default", "uid": "u1",
                            "creationTimestamp": "2026-01-01T00:00:00Z"},
               "spec": {"ports": [{"port": 80}]}}
        raw = defaults.apply_defaults(raw)
        raw["status"] = {}
        await store.stage(svc.key, "default", "s", raw)  # stored before its status was defaulted
        current = reg.get_obj(svc, "default", "s")
        opts = WriteOptions(field_manager="u")
        if via_patch:
            out, _ = await reg.patch_with(svc, "default", "s", lambda old: old, opts)
        else:
            out, _ = await reg.update(svc, "default", "s", copy.deepcopy(current), opts)
        return out["metadata"]["resourceVersion"], out.get("status", {})
    finally:
        await store.close()


def test_defaulting_in_place_leaves_the_stored_status_alone(tmp_path: Path) -> None:
    # the kept status is defaulted in `new`; had that reached `old`, the write would look
    # like a no-op and keep its resourceVersion
    by_update = asyncio.run(_noop_on_undefaulted_status(tmp_path, via_patch=False))
    by_patch = asyncio.run(_noop_on_undefaulted_status(tmp_path, via_patch=True))
    assert by_update == by_patch == ("2", {"loadBalancer": {}})
