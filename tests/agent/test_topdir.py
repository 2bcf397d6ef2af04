"""runtime/topdir.py on real filesystems: the ext4 top-directory flag is set where the
filesystem has it (as `lsattr -d` shows it), and a filesystem without it is left alone."""

from __future__ import annotations

import os
import subprocess

import pytest

from kubeproc.agent.runtime import topdir


def _fstype(path: str) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", path], capture_output=True, text=True).stdout.strip()


def test_sets_the_flag_on_ext4(tmp_path) -> None:
    if _fstype(str(tmp_path)) != "ext2/ext3":  # stat's name for ext4 too
        pytest.skip(f"{tmp_path} is not on ext4")
    d = tmp_path / "pods"
    assert topdir.make_top(str(d)) is True
    attrs = subprocess.run(["lsattr", "-d", str(d)], capture_output=True, text=True, check=True).stdout
    assert "T" in attrs.split()[0]
    assert topdir.make_top(str(d)) is True  # again: unchanged, no error


def test_a_filesystem_without_the_flag_is_left_alone() -> None:
    if not os.path.isdir("/dev/shm") or _fstype("/dev/shm") != "tmpfs":
        pytest.skip("no tmpfs at /dev/shm")
    d = os.path.join("/dev/shm", f"kp-topdir-{os.getpid()}")
    try:
        assert topdir.make_top(d) is False
        assert os.path.isdir(d)
    finally:
        os.rmdir(d)
