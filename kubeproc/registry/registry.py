"""The one write path for every verb: decode checks, defaults, validation, strategy, store.

Each method re-reads the stored object, decides, and stages the write without awaiting in
between, so compare-and-swap is atomic; it awaits only the durable commit. A rejected request
raises a StatusError before anything is staged: nothing half-written can exist.
Follows k8s.io/apiserver/pkg/registry/generic/registry/store.go (Create, Update, Delete).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from kubeproc.api import admission, errors, resources, selectors
from kubeproc.api.defaults import json_deepcopy
from kubeproc.api.resources import Resource
from kubeproc.registry import checks, nodeports, objectmeta, serviceips
from kubeproc.registry.deletion import plan_delete
from kubeproc.registry.strategy import (check_field_selector, index_fields, reset_status_on_create,
                                        spec_of, strategy)
from kubeproc.store.store import Entry, Store


@dataclass
class WriteOptions:
    dry_run: bool = False
    field_manager: str = ""
    field_validation: str = "Strict"  # Strict | Warn | Ignore
    user_agent: str = ""
    subresource: str = ""
    raw: bytes | None = None  # the request body, for duplicate-field detection
    raw_key_count: int | None = None  # keys in the body as decoded (fieldcheck.count_keys)
    apply: bool = False  # server-side apply writes its own managedFields
    warnings: list[str] = field(default_factory=list)

    @property
    def manager(self) -> str:
        return self.field_manager or objectmeta.manager_from_user_agent(self.user_agent)


@dataclass
class ListResult:
    rv: int
    items: list[Entry]
    continue_token: str = ""
    remaining: int | None = None


_NAMESPACES = resources.by_kind("", "Namespace")
assert _NAMESPACES is not None
_SERVICES = resources.by_kind("", "Service")
assert _SERVICES is not None


class Registry:
    def __init__(self, store: Store, service_cidr: str = serviceips.DEFAULT_CIDR,
                 node_port_range: str = nodeports.DEFAULT_RANGE) -> None:
        self.store = store
        self.service_ips = serviceips.ServiceIPs(service_cidr)
        self.node_ports = nodeports.NodePorts(node_port_range)
        by_key = {r.key: r for r in resources.RESOURCES}
        store.field_indexer = lambda key, obj: index_fields(by_key[key], obj)

    # ---- reads -----------------------------------------------------------------------
    def get(self, resource: Resource, namespace: str, name: str) -> Entry:
        entry = self.store.get(resource.key, namespace, name)
        if entry is None:
            raise errors.NotFound.of(resource.plural, resource.group, name)
        return entry

    def get_obj(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        return self.get(resource, namespace, name).obj()

    def list(self, resource: Resource, namespace: str | None, label_selector: str = "",
             field_selector: str = "", limit: int = 0, continue_token: str = "") -> ListResult:
        pred = self._predicate(resource, label_selector, field_selector)
        rv = self.store.resource_version
        start = ""
        if continue_token:
            rv, start = _decode_continue(continue_token)
        items = []
        for key, entry in self.store.list(resource.key, namespace):
            if start and "/".join(key) <= start:
                continue
            if pred is None or pred(entry):
                items.append((key, entry))
        if limit and len(items) > limit:
            last = "/".join(items[limit - 1][0])
            return ListResult(rv, [e for _, e in items[:limit]],
                              _encode_continue(rv, last), len(items) - limit)
        return ListResult(rv, [e for _, e in items])

    def _predicate(self, resource: Resource, label_selector: str, field_selector: str):
        lsel = selectors.parse_label_selector(label_selector)
        fsel = selectors.parse_field_selector(field_selector)
        check_field_selector(resource, fsel.fields())
        if lsel.empty() and not fsel.terms:
            return None
        return lambda e: lsel.matches(e.labels) and fsel.matches(e.fields)

    def watch(self, resource: Resource, namespace: str | None, resource_version: str,
              label_selector: str = "", field_selector: str = "",
              send_initial: bool | None = None) -> "WatchStream":
        pred = self._predicate(resource, label_selector, field_selector)
        key = resource.key
        initial: list[Entry] = []
        if resource_version in ("", "0") or send_initial:
            # "Get State and Start at Most Recent" / sendInitialEvents: current state first
            since = self.store.resource_version
            initial = [e for _, e in self.store.list(key, namespace) if pred is None or pred(e)]
        else:
            since = _parse_rv(resource_version)
        watcher = self.store.hub.subscribe(key, namespace, since, pred)
        return WatchStream(watcher, initial, self.store)

    # ---- create ----------------------------------------------------------------------
    async def create(self, resource: Resource, namespace: str, obj: Any,
                     opts: WriteOptions) -> dict[str, Any]:
        obj = self.prepare_create(resource, namespace, obj, opts)
        return await self._commit_create(resource, namespace, obj, opts)

    def prepare_create(self, resource: Resource, namespace: str, obj: Any,
                       opts: WriteOptions) -> dict[str, Any]:
        obj = checks.decoded_object(resource, obj, namespace, opts)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = objectmeta.generate_name(str(meta["generateName"]))
        objectmeta.fill_system_fields(obj, objectmeta.now_rfc3339())
        if strategy(resource).generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        reset_status_on_create(resource, obj)
        default_sc = None
        if resource.kind == "PersistentVolumeClaim" and resource.group == "":
            # the DefaultStorageClass admission plugin
            default_sc = admission.default_class_name(
                e.obj() for _, e in self.store.list("storage.k8s.io/storageclasses", None))
        obj = checks.default_and_validate(resource, obj, None, create=True,
                                          default_storage_class=default_sc)
        if not opts.apply:
            checks.managed_fields_for(resource, None, obj, opts)
        if resource.kind == "Service" and resource.group == "":
            # storage alloc.go: after admission and the field manager, before persisting
            stored = [e.obj() for _, e in self.store.list(resource.key, None)]
            spec = obj.setdefault("spec", {})
            self.service_ips.allocate(meta["name"], spec, serviceips.cluster_ips(stored))
            try:
                self.node_ports.allocate_create(obj, stored, dry_run=opts.dry_run)
            except errors.StatusError:
                self.service_ips.forget(spec.get("clusterIPs") or [])  # txn.Revert
                raise
        return obj

    async def _commit_create(self, resource: Resource, namespace: str, obj: dict[str, Any],
                             opts: WriteOptions) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        if resource.namespaced:
            self._check_namespace_open(namespace)
        for _ in range(8):
            if self.store.current(resource.key, namespace, name) is None:
                break
            if not obj["metadata"].get("generateName"):
                raise errors.AlreadyExists.of(resource.plural, resource.group, name)
            # upstream retries a generated name that collided (registry/store.go Create)
            name = objectmeta.generate_name(obj["metadata"]["generateName"])
            obj["metadata"]["name"] = name
        else:
            raise errors.AlreadyExists.of(resource.plural, resource.group, name)
        if opts.dry_run:
            return obj
        await self.store.stage(resource.key, namespace, name, obj)
        return obj

    def _check_namespace_open(self, namespace: str) -> None:
        ns = self.store.current(_NAMESPACES.key, "", namespace)
        if ns is None:
            raise errors.NotFound.of("namespaces", "", namespace)
        if json.loads(ns.data).get("metadata", {}).get("deletionTimestamp"):
            raise errors.Forbidden(
                f"unable to create new content in namespace {namespace} because it is being terminated",
                kind="namespaces", name=namespace)

    # ---- update / patch ----------------------------------------------------------------
    async def update(self, resource: Resource, namespace: str, name: str, obj: Any,
                     opts: WriteOptions) -> tuple[dict[str, Any], bool]:
        """Replace (PUT). Returns (object, created)."""
        obj = checks.decoded_object(resource, obj, namespace, opts, name=name)
        current = self.store.current(resource.key, namespace, name)
        if current is None:
            if opts.subresource or not strategy(resource).allow_create_on_update:
                raise errors.NotFound.of(resource.plural, resource.group, name)
            obj["metadata"].pop("resourceVersion", None)
            prepared = self.prepare_create(resource, namespace, obj, opts)
            return await self._commit_create(resource, namespace, prepared, opts), True
        old = current.obj()
        want_rv = obj["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise stale(resource, name)
        return await self._commit_update(resource, namespace, old, obj, opts), False

    async def patch_with(self, resource: Resource, namespace: str, name: str, mutate,
                         opts: WriteOptions, create_missing=None) -> tuple[dict[str, Any], bool]:
        """Read, `mutate(old) -> new`, then write as an update (patch and apply use this).

        `mutate` gets a private copy of the stored object; what it returns is the registry's
        to modify (it must not be held elsewhere).
        """
        current = self.store.current(resource.key, namespace, name)
        if current is None:
            if create_missing is None or opts.subresource:
                raise errors.NotFound.of(resource.plural, resource.group, name)
            obj = create_missing()
            prepared = self.prepare_create(resource, namespace, obj, opts)
            return await self._commit_create(resource, namespace, prepared, opts), True
        old = current.obj()
        # a second decode is the mutator's private copy (cheaper than deepcopy of `old`)
        new = mutate(current.obj())
        new = checks.decoded_object(resource, new, namespace, opts, name=name)
        want_rv = new["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise stale(resource, name)
        return await self._commit_update(resource, namespace, old, new, opts, owned=True), False

    async def _commit_update(self, resource: Resource, namespace: str, old: dict[str, Any],
                             new: dict[str, Any], opts: WriteOptions,
                             owned: bool = False) -> dict[str, Any]:
        # `owned`: nobody else holds `new` (nor anything in it), so defaulting needs no copy;
        # with it, `new` must never take a part of `old` uncopied
        st = strategy(resource)
        name = old["metadata"]["name"]
        if new["metadata"].get("uid") and new["metadata"]["uid"] != old["metadata"].get("uid"):
            raise errors.Conflict.of(resource.plural, resource.group, name,
                                     f"Precondition failed: UID in precondition: "
                                     f"{new['metadata']['uid']}, UID in object meta: "
                                     f"{old['metadata'].get('uid')}")
        objectmeta.keep_system_fields(new, old)
        if opts.subresource == "status":
            # status strategy: only status (and nothing of spec or metadata) changes
            kept = json_deepcopy(old)
            kept["status"] = new.get("status", {})
            new = kept
        elif opts.subresource == "finalize":
            kept = json_deepcopy(old)
            kept.setdefault("spec", {})["finalizers"] = (new.get("spec") or {}).get("finalizers") or []
            new = kept
        elif opts.subresource == "binding":
            pass  # subresources.bind changes nodeName and the PodScheduled condition together
        elif st.status_subresource:
            if "status" in old:
                # an owned `new` is defaulted in place: it must not share old's status
                new["status"] = json_deepcopy(old["status"]) if owned else old["status"]
            else:
                new.pop("status", None)
        service = resource.kind == "Service" and resource.group == "" and not opts.subresource
        if service:  # storage.go beginUpdate / strategy PrepareForUpdate, before validation
            serviceips.prepare_update(new, old)
        if st.generation and spec_of(new) != spec_of(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        new = checks.default_and_validate(resource, new, old, create=False,
                                          skip_validation=opts.subresource == "binding",
                                          owned=owned)
        if st.generation and spec_of(new) != spec_of(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation") or 0) + 1
        if not opts.apply:
            checks.managed_fields_for(resource, old, new, opts)
        if service:
            self._allocate_update(new, old, opts)
        new["metadata"]["resourceVersion"] = old["metadata"].get("resourceVersion")
        if _same(new, old):
            return old  # no-op writes do not move resourceVersion (etcd3 GuaranteedUpdate)
        if opts.dry_run:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers") and not _ns_finalizers(resource, new):
            if not (resource.kind == "Pod" and meta.get("deletionGracePeriodSeconds")):
                await self.store.stage(resource.key, namespace, name, None)
                return new
        await self.store.stage(resource.key, namespace, name, new)
        return new

    def _allocate_update(self, new: dict[str, Any], old: dict[str, Any], opts: WriteOptions) -> None:
        # storage alloc.go allocateUpdate: what a type change (or a new port) needs
        stored = [e.obj() for _, e in self.store.list(_SERVICES.key, None)]
        spec, old_spec = new.setdefault("spec", {}), old.get("spec") or {}
        self.service_ips.allocate_update(new["metadata"]["name"], spec, old_spec,
                                         serviceips.cluster_ips(stored))
        try:
            self.node_ports.allocate_update(new, old, stored, dry_run=opts.dry_run)
        except errors.StatusError:
            if old_spec.get("type") == "ExternalName":
                self.service_ips.forget(spec.get("clusterIPs") or [])  # txn.Revert
            raise

    # ---- delete ------------------------------------------------------------------------
    async def delete(self, resource: Resource, namespace: str, name: str,
                     options: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        current = self.store.current(resource.key, namespace, name)
        if current is None:
            raise errors.NotFound.of(resource.plural, resource.group, name)
        old = current.obj()
        decision = plan_delete(resource, old, options, objectmeta.now_rfc3339())
        if dry_run:
            return decision.obj
        if decision.remove:
            if resource.key == _SERVICES.key:
                # alloc.go releaseAllocatedResources: recent hand-outs of this Service are free
                self.service_ips.forget((old.get("spec") or {}).get("clusterIPs") or [])
                self.node_ports.forget(namespace, name)
            await self.store.stage(resource.key, namespace, name, None)
        elif decision.changed:
            await self.store.stage(resource.key, namespace, name, decision.obj)
        return decision.obj

    async def delete_collection(self, resource: Resource, namespace: str | None,
                                label_selector: str, field_selector: str,
                                options: dict[str, Any], dry_run: bool = False) -> list[dict]:
        result = self.list(resource, namespace, label_selector, field_selector)
        deleted = []
        for entry in result.items:
            meta = entry.obj()["metadata"]
            try:
                deleted.append(await self.delete(resource, meta.get("namespace", ""),
                                                 meta["name"], options, dry_run))
            except errors.NotFound:
                continue
        return deleted


class WatchStream:
    """Initial state (synthetic ADDED events) followed by live events, as JSON lines."""

    def __init__(self, watcher, initial: list[Entry], store: Store) -> None:
        self.watcher = watcher
        self.initial = initial
        self.store = store
        self._sent_initial = 0
        self._ended = False

    async def next_batch(self, limit: int = 256) -> list[tuple[str, Entry]] | None:
        """The next events: waits for one, then takes those already queued (at most `limit`),
        so a burst is written to the client at once; None once the stream has ended. Only the
        first queue read waits, so a cancelled call loses no event."""
        if self._sent_initial < len(self.initial):
            start = self._sent_initial
            self._sent_initial = min(len(self.initial), start + limit)
            return [("ADDED", e) for e in self.initial[start:self._sent_initial]]
        if self._ended:
            return None
        queue = self.watcher.queue
        item = await queue.get()
        if item is None:
            self._ended = True
            return None
        batch = [item]
        while len(batch) < limit and not queue.empty():
            item = queue.get_nowait()
            if item is None:
                self._ended = True
                break
            batch.append(item)
        return batch

    def close(self) -> None:
        self.watcher.close()


def stale(resource: Resource, name: str) -> errors.Conflict:
    """The 409 for a write based on an old resourceVersion (storage.NewResourceVersionConflictsError)."""
    return errors.Conflict.of(resource.plural, resource.group, name,
                              "the object has been modified; please apply your changes to the "
                              "latest version and try again")


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(o: dict[str, Any]) -> dict[str, Any]:
        o = dict(o)
        meta = dict(o.get("metadata") or {})
        mf = [dict(m, time=None) for m in meta.get("managedFields") or []]
        meta["managedFields"] = mf
        o["metadata"] = meta
        return o
    return strip(a) == strip(b)


def _ns_finalizers(resource: Resource, obj: dict[str, Any]) -> bool:
    return resource.kind == "Namespace" and bool((obj.get("spec") or {}).get("finalizers"))


def _parse_rv(value: str) -> int:
    try:
        rv = int(value)
        if rv < 0:
            raise ValueError
        return rv
    except ValueError:
        raise errors.BadRequest(f'invalid resource version "{value}"') from None


def _encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError):
        raise errors.BadRequest("continue key is not valid: incorrect encoded start resourceVersion "
                                "(version meta.k8s.io/v1)") from None
