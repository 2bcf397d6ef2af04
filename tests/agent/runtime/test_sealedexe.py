"""runtime/sealedexe.py: the monitor's sealed in-memory copies of runc, on the real kernel."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess

import pytest

from kubeproc.agent.runtime.sealedexe import SEALS, SealedCopies


def _fd(path: str) -> int:
    assert path.startswith("/proc/self/fd/")
    return int(path.rsplit("/", 1)[1])


def test_a_copy_is_sealed_identical_and_runs(tmp_path) -> None:
    exe = str(tmp_path / "true")
    shutil.copy2("/usr/bin/true", exe)
    copies = SealedCopies()
    try:
        path = copies.path(exe)
        fd = _fd(path)
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) == SEALS  # what runc's is_self_cloned asks for
        assert os.pread(fd, 1 << 20, 0) == open(exe, "rb").read()
        with pytest.raises(PermissionError):  # sealed: nobody can write it
            os.pwrite(fd, b"x", 0)
        # the monitor's posix_spawn keeps the fd for the exec; subprocess closes it unless passed
        assert subprocess.run([path], pass_fds=(fd,), check=False).returncode == 0
        assert copies.path(exe) == path  # the same copy while the file is unchanged
    finally:
        copies.close()


def test_a_changed_binary_gets_a_new_copy_and_the_old_one_is_closed(tmp_path) -> None:
    exe = str(tmp_path / "tool")
    shutil.copy2("/usr/bin/true", exe)
    copies = SealedCopies()
    try:
        first = _fd(copies.path(exe))
        os.unlink(exe)
        shutil.copy2("/usr/bin/false", exe)  # an upgrade replaces the file
        second = copies.path(exe)
        assert subprocess.run([second], pass_fds=(_fd(second),), check=False).returncode == 1
        # the old copy was closed (its number may be reused by the new one)
        assert _fd(second) == first or not os.path.exists(f"/proc/self/fd/{first}")
        assert len(copies.copies) == 1
    finally:
        copies.close()
    assert copies.copies == {}


def test_scripts_and_missing_files_run_from_their_path(tmp_path) -> None:
    script = tmp_path / "runc"
    script.write_text("#!/bin/sh\nexit 3\n")
    script.chmod(0o755)
    copies = SealedCopies()
    assert copies.path(str(script)) == str(script)  # /proc/self/fd/N would be gone for sh
    assert copies.path(str(tmp_path / "missing")) == str(tmp_path / "missing")
    assert copies.copies == {}
