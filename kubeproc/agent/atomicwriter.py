"""The kubelet's AtomicWriter: project a set of files into a volume directory atomically.

Ports pkg/volume/util/atomic_writer.go. Real files live in a hidden timestamped directory
(`..2006_01_02_15_04_05.<random>`); `..data` is a symlink to it; each user-visible top-level
name is a symlink into `..data`. An update writes a new timestamped directory and swaps
`..data` by rename(2), so a reader sees either the old or the new set, never a mix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255  # atomic_writer.go maxFileNameLength
MAX_PATH = 4096  # atomic_writer.go maxPathLength


@dataclass(frozen=True)
class FileProjection:
    """One file's content and mode (atomic_writer.go FileProjection; FsUser is not ported)."""

    data: bytes
    mode: int = 0o644


class PayloadError(ValueError):
    """An invalid payload path (message as upstream's validatePath)."""


def validate_path(target: str) -> None:
    """atomic_writer.go validatePath: relative, no `..` element, not starting with `..`, bounded."""
    if target == "":
        raise PayloadError(f'invalid path: must not be empty: "{target}"')
    if target.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {target}")
    if len(target) > MAX_PATH:
        raise PayloadError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = target.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {target}")
        if len(item) > MAX_FILE_NAME:
            raise PayloadError(f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {target}")


def _clean(p: str) -> str:
    # filepath.Clean for a validated relative path ("a//b/./c/" → "a/b/c")
    return os.path.normpath(p)


def validate_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    """atomic_writer.go validatePayload: every path valid; keys cleaned."""
    out: dict[str, FileProjection] = {}
    for k, v in payload.items():
        validate_path(k)
        out[_clean(k)] = v
    return out


def _walk_relative(root: str) -> set[str]:
    # filepath.Walk (no symlink following) of the old timestamped dir, as relative paths
    found: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in dirnames + filenames:
            found.add(name if rel == "." else os.path.join(rel, name))
    return found


def _paths_to_remove(payload: Mapping[str, FileProjection], old_ts: str) -> set[str]:
    # atomic_writer.go pathsToRemove: old paths minus the new ones and all their parents
    current = _walk_relative(old_ts)
    new: set[str] = set()
    for f in payload:
        p = f
        while p:
            new.add(p)
            p = os.path.dirname(p)
    return current - new


def _should_write(payload: Mapping[str, FileProjection], old_ts: str) -> bool:
    # atomic_writer.go shouldWritePayload: content only (modes are not compared upstream either)
    for rel, proj in payload.items():
        path = os.path.join(old_ts, rel)
        if not os.path.lexists(path):
            return True
        with open(path, "rb") as f:
            if f.read() != proj.data:
                return True
    return False


class AtomicWriter:
    """Writes payloads into `target_dir` (which must exist). Not thread-safe: the caller
    serialises writes to one directory (as upstream requires)."""

    def __init__(self, target_dir: str) -> None:
        if not os.path.exists(target_dir):
            raise FileNotFoundError(target_dir)
        self.target = target_dir

    def current_ts_dir(self) -> str | None:
        """The name of the timestamped directory `..data` points at, or None."""
        try:
            return os.readlink(os.path.join(self.target, DATA_DIR))
        except FileNotFoundError:
            return None

    def _new_ts_dir(self) -> str:
        prefix = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
        ts = tempfile.mkdtemp(prefix=prefix, dir=self.target)
        os.chmod(ts, 0o755)  # group/other must traverse it whatever the umask
        return ts

    @staticmethod
    def _write_payload(payload: Mapping[str, FileProjection], ts: str) -> None:
        for rel, proj in payload.items():
            full = os.path.join(ts, rel)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, proj.mode & 0o7777)
            with os.fdopen(fd, "wb") as f:
                f.write(proj.data)
            os.chmod(full, proj.mode & 0o7777)  # the open mode was masked by the umask

    def _create_user_visible(self, payload: Mapping[str, FileProjection]) -> None:
        # atomic_writer.go createUserVisibleFiles: one symlink per top-level name
        for rel in payload:
            top = rel.split("/", 1)[0]
            visible = os.path.join(self.target, top)
            if not os.path.lexists(visible):
                os.symlink(os.path.join(DATA_DIR, top), visible)

    def _remove_user_visible(self, paths: set[str]) -> None:
        # atomic_writer.go removeUserVisiblePaths: only top-level names (no "/") are links
        for p in paths:
            if "/" in p:
                continue
            try:
                os.remove(os.path.join(self.target, p))
            except FileNotFoundError:
                pass

    def write(self, payload: Mapping[str, FileProjection],
              set_perms: Callable[[str], None] | None = None) -> bool:
        """atomic_writer.go Write. Returns True if the volume content changed.

        `set_perms(ts_dir_path)` runs on the new timestamped directory before it becomes
        visible (the fsGroup ownership hook). Raises PayloadError for an invalid path.
        """
        clean = validate_payload(payload)
        old = self.current_ts_dir()
        old_path = os.path.join(self.target, old) if old else ""
        to_remove: set[str] = set()
        changed = True
        if old:
            to_remove = _paths_to_remove(clean, old_path) if os.path.isdir(old_path) else set()
            changed = not os.path.isdir(old_path) or _should_write(clean, old_path) or bool(to_remove)
        if changed:
            ts = self._new_ts_dir()
            try:
                self._write_payload(clean, ts)
                if set_perms is not None:
                    set_perms(ts)
                tmp_link = os.path.join(self.target, NEW_DATA_DIR)
                if os.path.lexists(tmp_link):  # left by a crash between symlink and rename
                    os.remove(tmp_link)
                os.symlink(os.path.basename(ts), tmp_link)
                os.rename(tmp_link, os.path.join(self.target, DATA_DIR))  # the atomic swap
            except BaseException:
                shutil.rmtree(ts, ignore_errors=True)
                raise
            self._remove_user_visible(to_remove)
            if old and os.path.isdir(old_path):
                shutil.rmtree(old_path)
        # upstream (newer) always (re)creates missing user-visible links, even without a write
        self._create_user_visible(clean)
        return changed
