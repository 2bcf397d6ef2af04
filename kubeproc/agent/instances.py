"""The agent's record of a pod on disk: sandbox and container instances, read back after a restart.

`DATA/pods/<uid>/sandbox.json` says a sandbox exists (attempt, IP); each container instance is a
bundle directory `containers/<name>-<attempt>/` holding config.json, `started` (when the agent
started it) and, once it has exited, the monitor's `exit.json`. The disk (not runc's state) is the
truth for exited instances, so exit codes, restart counts and back-off survive kill -9.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from dataclasses import dataclass
from typing import Any

from kubeproc.agent.podstatus import EXITED, ObservedContainer, ObservedSandbox, parse_time
from kubeproc.agent.runtime import rootfs
from kubeproc.agent.runtime.runc import read_exit

KEEP_PER_NAME = 2  # the plan needs the latest two instances of a container
_UNREAD = object()


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def stamp(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_stamp(s: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime(s.strip(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return parse_time(s)


@dataclass(frozen=True)
class _Seen:
    started: _dt.datetime | None
    created: _dt.datetime
    exit: Any  # runc.Exit | None
    message: str


class PodRecord:
    """Paths and records of one pod under `DATA/pods/<uid>`."""

    def __init__(self, pods_root: str, uid: str) -> None:
        self.uid = uid
        self.dir = os.path.join(pods_root, uid)
        self.containers_dir = os.path.join(self.dir, "containers")
        # sandbox.json as last read or written through this record: a worker reads it several
        # times per sync, and only its own record writes it (None: absent; _UNREAD: not read yet)
        self._sandbox: ObservedSandbox | None | object = _UNREAD
        self._listing: list[tuple[str, int, str]] | None = None  # container bundles, once listed
        self._seen: dict[str, _Seen] = {}  # bundle dir -> what observe read that cannot change

    # ---- sandbox ----
    def sandbox(self) -> ObservedSandbox | None:
        if self._sandbox is not _UNREAD:
            return self._sandbox  # type: ignore[return-value]
        try:
            with open(os.path.join(self.dir, "sandbox.json")) as f:
                rec = json.load(f)
        except (OSError, ValueError):
            self._sandbox = None
            return None
        self._sandbox = ObservedSandbox(id=self.uid, ready=True, ip=rec.get("ip", ""),
                                        attempt=int(rec.get("attempt", 0)))
        return self._sandbox  # type: ignore[return-value]

    def write_sandbox(self, attempt: int, ip: str) -> None:
        os.makedirs(self.dir, exist_ok=True)
        tmp = os.path.join(self.dir, "sandbox.json.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({"attempt": attempt, "ip": ip}))  # dumps: json's C encoder (dump is Python)
        os.replace(tmp, os.path.join(self.dir, "sandbox.json"))
        self._sandbox = ObservedSandbox(id=self.uid, ready=True, ip=ip, attempt=attempt)

    def drop_sandbox(self) -> None:
        self._sandbox = None
        try:
            os.unlink(os.path.join(self.dir, "sandbox.json"))
        except FileNotFoundError:
            pass

    # ---- container instances ----
    def container_id(self, name: str, attempt: int) -> str:
        return f"{self.uid}-{name}-{attempt}"

    def bundle(self, name: str, attempt: int) -> str:
        """The bundle directory of an instance (asked for before one is created or looked at:
        the cached listing is dropped)."""
        self.forget_instances()
        return os.path.join(self.containers_dir, f"{name}-{attempt}")

    def mark_started(self, bundle: str, at: _dt.datetime) -> None:
        with open(os.path.join(bundle, "started"), "w") as f:
            f.write(stamp(at))
        self._listing = None  # a listing taken while the bundle was being made may lack it
        # what observe would read back (the caller watches the instance from now on)
        created = _dt.datetime.fromtimestamp(os.stat(bundle).st_mtime, _dt.timezone.utc)
        self._seen[bundle] = _Seen(at, created, None, "")

    def write_exit(self, bundle: str, exit_code: int, message: str, at: _dt.datetime) -> None:
        """An exit the agent observed itself (a start that failed, a lost container)."""
        self._listing = None
        self._seen.pop(bundle, None)
        tmp = os.path.join(bundle, "exit.json.tmp")
        with open(tmp, "w") as f:
            f.write(json.dumps({"exitCode": exit_code, "finishedAt": stamp(at), "message": message}))
        os.replace(tmp, os.path.join(bundle, "exit.json"))

    def _entries(self) -> list[tuple[str, int, str]]:
        if self._listing is not None:
            return self._listing
        out: list[tuple[str, int, str]] = []
        try:
            names = os.listdir(self.containers_dir)
        except FileNotFoundError:
            self._listing = out
            return out
        for d in names:
            name, _, attempt = d.rpartition("-")
            if name and attempt.isdigit():
                out.append((name, int(attempt), os.path.join(self.containers_dir, d)))
        self._listing = out
        return out

    def _read(self, bdir: str) -> _Seen:
        try:
            with open(os.path.join(bdir, "started")) as f:
                started = _parse_stamp(f.read())
        except OSError:
            started = None
        created = _dt.datetime.fromtimestamp(os.stat(bdir).st_mtime, _dt.timezone.utc)
        ex = read_exit(bdir)
        msg = ""
        if ex is not None:
            try:
                with open(os.path.join(bdir, "exit.json")) as f:
                    msg = str(json.load(f).get("message", ""))
            except (OSError, ValueError):
                pass
        return _Seen(started, created, ex, msg)

    def observe(self, running: set[str], images: dict[str, str]) -> list[ObservedContainer]:
        """Every recorded instance: `running` holds the ids the agent watches as live.

        What was read of an exited instance, or of a started one the agent still watches, is
        kept: it cannot change, and a pod's sync would otherwise cost ~4 file system calls per
        instance on the event loop (each one a GIL hand-off while threads are busy)."""
        out = []
        for name, attempt, bdir in self._entries():
            cid = self.container_id(name, attempt)
            seen = self._seen.get(bdir)
            if seen is None or (seen.exit is None and not (seen.started and cid in running)):
                seen = self._read(bdir)
                if seen.exit is not None or (seen.started and cid in running):
                    self._seen[bdir] = seen
            started, created, ex = seen.started, seen.created, seen.exit
            image = images.get(name, "")
            if ex is None and cid in running:
                out.append(ObservedContainer(name, cid, attempt, "running" if started else "created",
                                             image, created, started))
                continue
            if ex is None:  # not live and no exit seen: lost (e.g. killed with the host's runc state)
                out.append(ObservedContainer(name, cid, attempt, "unknown", image, created, started))
                continue
            out.append(ObservedContainer(
                name, cid, attempt, EXITED, image, created, started,
                _parse_stamp(ex.finished_at) if ex.finished_at else now(),
                ex.exit_code, ex.signal, ex.oom_killed, seen.message))
        return out

    def forget_instances(self) -> None:
        """Drop what `observe` kept (bundles were added or removed behind this record's back)."""
        self._listing = None
        self._seen.clear()

    def prune(self, name: str) -> list[str]:
        """Remove all but the newest KEEP_PER_NAME instances of `name`; returns removed ids."""
        mine = sorted((a, b) for n, a, b in self._entries() if n == name)
        gone = []
        for attempt, bdir in mine[:-KEEP_PER_NAME]:
            remove_bundle(bdir)
            gone.append(self.container_id(name, attempt))
        if gone:
            self.forget_instances()
        return gone

    def purge(self, names: set[str]) -> None:
        for n, _, bdir in self._entries():
            if n in names:
                remove_bundle(bdir)
        self.forget_instances()

    def remove(self) -> None:
        self._sandbox = None
        if os.path.isdir(self.dir):
            for _, _, bdir in self._entries():
                remove_bundle(bdir)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.forget_instances()


def remove_rootfs(bundle: str) -> None:
    rootfs.remove(os.path.join(bundle, "rootfs"))


def remove_bundle(bundle: str) -> None:
    remove_rootfs(bundle)
    shutil.rmtree(bundle, ignore_errors=True)


def list_pod_uids(pods_root: str) -> list[str]:
    try:
        return sorted(os.listdir(pods_root))
    except FileNotFoundError:
        return []
