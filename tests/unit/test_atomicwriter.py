"""AtomicWriter (pkg/volume/util/atomic_writer.go): path validation, the ..data layout, atomic
swap on update, removal of vanished keys, modes whatever the umask, no-op when unchanged."""

from __future__ import annotations

import os
import re
import stat

import pytest

from kubeproc.agent import atomicwriter
from kubeproc.agent.atomicwriter import AtomicWriter, FileProjection, PayloadError, validate_path

TS = re.compile(r"^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\w+$")


def fp(text: str, mode: int = 0o644) -> FileProjection:
    return FileProjection(text.encode(), mode)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("path,error", [
    ("", 'invalid path: must not be empty: ""'),
    ("/etc/passwd", "invalid path: must be relative path: /etc/passwd"),
    ("a/../b", "invalid path: must not contain '..': a/../b"),
    ("..", "invalid path: must not contain '..': .."),
    ("..data", "invalid path: must not start with '..': ..data"),
    ("..data_tmp/x", "invalid path: must not start with '..': ..data_tmp/x"),
    ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
    ("a/" * 2048 + "b", "invalid path: must be less than or equal to 4096 characters"),
], ids=["empty", "absolute", "backstep", "dotdot", "reserved-data", "reserved-prefix", "long-name", "long-path"])
def test_invalid_paths_are_refused(path: str, error: str) -> None:
    with pytest.raises(PayloadError) as exc:
        validate_path(path)
    assert str(exc.value) == error


@pytest.mark.parametrize("path", ["a", "a/b/c", ".hidden", "a..b", "x" * 255],
                         ids=["plain", "nested", "dotfile", "inner-dots", "255-chars"])
def test_valid_paths(path: str) -> None:
    validate_path(path)


def test_first_write_layout(tmp_path) -> None:
    target = str(tmp_path)
    changed = AtomicWriter(target).write({"a": fp("A"), "dir/b": fp("B"), "dir/sub/c": fp("C")})
    assert changed is True
    ts = os.readlink(tmp_path / "..data")
    assert TS.match(ts), ts
    assert sorted(os.listdir(tmp_path)) == sorted(["..data", ts, "a", "dir"])
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert (read(tmp_path / "a"), read(tmp_path / "dir/b"), read(tmp_path / "dir/sub/c")) == ("A", "B", "C")
    assert stat.S_IMODE(os.stat(tmp_path / ts).st_mode) == 0o755


@pytest.mark.parametrize("mode", [0o400, 0o644, 0o777, 0o600], ids=["0400", "0644", "0777", "0600"])
def test_modes_are_exact_whatever_the_umask(tmp_path, mode: int) -> None:
    old = os.umask(0o077)
    try:
        AtomicWriter(str(tmp_path)).write({"k": fp("v", mode)})
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "k").st_mode) == mode


def test_update_swaps_data_atomically_and_removes_old_entries(tmp_path, monkeypatch) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"keep": fp("1"), "gone": fp("x"), "nested/gone": fp("y"), "nested/keep": fp("z")})
    old_ts = os.readlink(tmp_path / "..data")
    seen = []
    real_rename = os.rename

    def spy(src, dst):  # what a reader sees just before and just after the swap
        seen.append(("before", read(tmp_path / "keep"), os.path.exists(tmp_path / "gone")))
        real_rename(src, dst)
        seen.append(("after", read(tmp_path / "keep"), read(tmp_path / "nested/keep")))

    monkeypatch.setattr(atomicwriter.os, "rename", spy)
    assert w.write({"keep": fp("2"), "nested/keep": fp("z2")}) is True
    assert seen == [("before", "1", True), ("after", "2", "z2")]
    new_ts = os.readlink(tmp_path / "..data")
    assert new_ts != old_ts and not os.path.exists(tmp_path / old_ts)
    assert sorted(os.listdir(tmp_path)) == sorted(["..data", new_ts, "keep", "nested"])
    assert sorted(os.listdir(tmp_path / "nested")) == ["keep"]


def test_unchanged_payload_is_a_no_op(tmp_path) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A")})
    ts = os.readlink(tmp_path / "..data")
    assert w.write({"a": fp("A")}) is False
    assert os.readlink(tmp_path / "..data") == ts


def test_removed_key_alone_forces_a_write(tmp_path) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A"), "b": fp("B")})
    assert w.write({"a": fp("A")}) is True
    assert not os.path.lexists(tmp_path / "b")


def test_missing_visible_link_is_recreated_without_a_write(tmp_path) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A")})
    os.remove(tmp_path / "a")
    assert w.write({"a": fp("A")}) is False
    assert read(tmp_path / "a") == "A"


def test_set_perms_runs_on_the_new_dir_before_it_is_visible(tmp_path) -> None:
    calls = []
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A")}, set_perms=lambda ts: calls.append((os.path.basename(ts), os.path.lexists(tmp_path / "..data"))))
    assert len(calls) == 1 and TS.match(calls[0][0]) and calls[0][1] is False
    assert calls[0][0] == os.readlink(tmp_path / "..data")


def test_invalid_payload_leaves_the_old_content(tmp_path) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A")})
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(PayloadError):
        w.write({"a": fp("B"), "../escape": fp("x")})
    assert sorted(os.listdir(tmp_path)) == before and read(tmp_path / "a") == "A"


def test_failure_while_writing_discards_the_new_dir(tmp_path) -> None:
    w = AtomicWriter(str(tmp_path))
    w.write({"a": fp("A")})
    before = sorted(os.listdir(tmp_path))

    def boom(ts: str) -> None:
        raise OSError("chown failed")

    with pytest.raises(OSError):
        w.write({"a": fp("B")}, set_perms=boom)
    assert sorted(os.listdir(tmp_path)) == before and read(tmp_path / "a") == "A"


def test_target_must_exist(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        AtomicWriter(str(tmp_path / "missing"))
