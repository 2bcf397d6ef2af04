"""The local-path provisioner's filesystem: volume directories under DATA/volumes.

The only module of the volume controller that touches the disk. Directories are created with
their final owner and mode (never world-writable); removal refuses anything outside the root.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil

from kubeproc.controllers.volume.provisioner import Ownership

log = logging.getLogger(__name__)


class LocalPaths:
    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real.startswith(os.path.realpath(self.root) + os.sep)

    def create(self, path: str, owner: Ownership) -> None:
        """Make `path` (idempotent), owned as `owner` says. Parents are traversable only."""
        if not self._inside(path):
            raise ValueError(f"{path} is not under {self.root}")
        parent = os.path.dirname(path)
        os.makedirs(parent, mode=0o711, exist_ok=True)
        try:
            os.mkdir(path, 0o700)  # closed until owner and mode are final
        except FileExistsError:
            if not os.path.isdir(path) or os.path.islink(path):
                raise
        if owner.uid is not None or owner.gid is not None:
            try:
                os.chown(path, -1 if owner.uid is None else owner.uid,
                         -1 if owner.gid is None else owner.gid)
            except PermissionError:  # not root: the directory stays kubeproc's own
                log.warning("cannot chown %s to %s:%s", path, owner.uid, owner.gid)
        os.chmod(path, owner.mode)

    def remove(self, path: str) -> None:
        """Delete the directory tree at `path` (gone already is fine)."""
        if not self._inside(path) or os.path.islink(path):
            raise ValueError(f"refusing to remove {path}: not a directory under {self.root}")
        try:
            shutil.rmtree(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
