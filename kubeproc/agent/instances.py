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


class PodRecord:
    """Paths and records of one pod under `DATA/pods/<uid>`."""

    def __init__(self, pods_root: str, uid: str) -> None:
        self.uid = uid
        self.dir = os.path.join(pods_root, uid)
        self.containers_dir = os.path.join(self.dir, "containers")
        # sandbox.json as last read or written through this record: a worker reads it several
        # times per sync, and only its own record writes it (None: absent; _UNREAD: not read yet)
        self._sandbox: ObservedSandbox | None | object = _UNREAD

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
            json.dump({"attempt": attempt, "ip": ip}, f)
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
        return os.path.join(self.containers_dir, f"{name}-{attempt}")

    def mark_started(self, bundle: str, at: _dt.datetime) -> None:
        with open(os.path.join(bundle, "started"), "w") as f:
            f.write(stamp(at))

    def write_exit(self, bundle: str, exit_code: int, message: str, at: _dt.datetime) -> None:
        """An exit the agent observed itself (a start that failed, a lost container)."""
        tmp = os.path.join(bundle, "exit.json.tmp")
        with open(tmp, "w") as f:
            json.dump({"exitCode": exit_code, "finishedAt": stamp(at), "message": message}, f)
        os.replace(tmp, os.path.join(bundle, "exit.json"))

    def _entries(self) -> list[tuple[str, int, str]]:
        out = []
        try:
            names = os.listdir(self.containers_dir)
        except FileNotFoundError:
            return out
        for d in names:
            name, _, attempt = d.rpartition("-")
            if name and attempt.isdigit():
                out.append((name, int(attempt), os.path.join(self.containers_dir, d)))
        return out

    def observe(self, running: set[str], images: dict[str, str]) -> list[ObservedContainer]:
        """Every recorded instance: `running` holds the ids the agent watches as live."""
        out = []
        for name, attempt, bdir in self._entries():
            cid = self.container_id(name, attempt)
            try:
                with open(os.path.join(bdir, "started")) as f:
                    started = _parse_stamp(f.read())
            except OSError:
                started = None
            created = _dt.datetime.fromtimestamp(os.stat(bdir).st_mtime, _dt.timezone.utc)
            ex = read_exit(bdir)
            image = images.get(name, "")
            if ex is None and cid in running:
                out.append(ObservedContainer(name, cid, attempt, "running" if started else "created",
                                             image, created, started))
                continue
            if ex is None:  # not live and no exit seen: lost (e.g. killed with the host's runc state)
                out.append(ObservedContainer(name, cid, attempt, "unknown", image, created, started))
                continue
            msg = ""
            try:
                with open(os.path.join(bdir, "exit.json")) as f:
                    msg = str(json.load(f).get("message", ""))
            except (OSError, ValueError):
                pass
            out.append(ObservedContainer(
                name, cid, attempt, EXITED, image, created, started,
                _parse_stamp(ex.finished_at) if ex.finished_at else now(),
                ex.exit_code, ex.signal, ex.oom_killed, msg))
        return out

    def prune(self, name: str) -> list[str]:
        """Remove all but the newest KEEP_PER_NAME instances of `name`; returns removed ids."""
        mine = sorted((a, b) for n, a, b in self._entries() if n == name)
        gone = []
        for attempt, bdir in mine[:-KEEP_PER_NAME]:
            remove_bundle(bdir)
            gone.append(self.container_id(name, attempt))
        return gone

    def purge(self, names: set[str]) -> None:
        for n, _, bdir in self._entries():
            if n in names:
                remove_bundle(bdir)

    def remove(self) -> None:
        self._sandbox = None
        if os.path.isdir(self.dir):
            for _, _, bdir in self._entries():
                remove_bundle(bdir)
            shutil.rmtree(self.dir, ignore_errors=True)


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
