"""Pure parts of the container shim and rootfs: CRI log records, exit codes, OOM counters,
the host scan (on a fake root), and the writable layer skeleton."""

from __future__ import annotations

import os

import pytest

from kubeproc.agent.runtime import monitorfiles as shim, rootfs

TS = "2026-01-02T03:04:05.000000007Z"


def test_cri_timestamp_is_fixed_width_utc() -> None:
    assert shim.cri_timestamp(1767323045_000000007) == TS
    assert shim.cri_timestamp(1767323045_120000000) == "2026-01-02T03:04:05.120000000Z"


@pytest.mark.parametrize("chunks,want", [
    ([b"a\nb\n"], [b"F a", b"F b"]),
    ([b"par", b"tial\n"], [b"F partial"]),
    ([b"no newline"], [b"F no newline"]),  # written as F at EOF, like containerd
    ([b"\n"], [b"F "]),
    ([b"x" * (shim.PARTIAL_MAX + 3) + b"\n"], [b"P " + b"x" * shim.PARTIAL_MAX, b"F xxx"]),
    ([b"x" * shim.PARTIAL_MAX + b"\n"], [b"F " + b"x" * shim.PARTIAL_MAX]),
], ids=["two-lines", "split-across-reads", "tail-at-eof", "empty-line", "long-line-partial", "exactly-max"])
def test_cri_lines(chunks, want) -> None:
    buf = bytearray()
    out = b""
    for c in chunks:
        out += shim.cri_lines(b"stdout", buf, c, TS, eof=False)
    out += shim.cri_lines(b"stdout", buf, b"", TS, eof=True)
    prefix = TS.encode() + b" stdout "
    assert out.split(b"\n")[:-1] == [prefix + w for w in want]
    assert not buf


def test_cri_lines_keeps_tail_until_eof() -> None:
    buf = bytearray()
    assert shim.cri_lines(b"stderr", buf, b"a\nrest", TS, eof=False) == TS.encode() + b" stderr F a\n"
    assert bytes(buf) == b"rest"


@pytest.mark.parametrize("status,want", [
    (3 << 8, (3, 0)), (0, (0, 0)), (9, (137, 9)), (15, (143, 15)), (9 | 0x80, (137, 9)),
], ids=["exit-3", "exit-0", "sigkill-137", "sigterm-143", "sigkill-core-bit"])
def test_exit_code(status, want) -> None:
    assert shim.exit_code(status) == want


def test_oom_kills_reads_v1_and_v2_counters(tmp_path) -> None:
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    v2 = tmp_path / "memory.events"
    v2.write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert shim.oom_kills([str(v1)]) == 2
    assert shim.oom_kills([str(v2), str(tmp_path / "gone")]) == 1


def test_scan_host_binds_dirs_and_copies_symlinks(tmp_path) -> None:
    for d in ("usr/bin", "etc/ssh", "opt"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "etc/shadow").write_text("root:x")
    os.symlink("usr/bin", tmp_path / "bin")
    lay = rootfs.scan_host(str(tmp_path))
    assert [(m.source, m.destination, m.options) for m in lay.binds] == [
        (str(tmp_path / "usr"), "/usr", rootfs.BIND_OPTIONS), (str(tmp_path / "etc"), "/etc", rootfs.BIND_OPTIONS),
        (str(tmp_path / "opt"), "/opt", rootfs.BIND_OPTIONS)]
    assert lay.symlinks == (("bin", "usr/bin"),)
    assert lay.masked == ("/etc/shadow", "/etc/ssh")


def test_prepare_and_remove_layer(tmp_path) -> None:
    lay = rootfs.HostLayout(binds=(rootfs.Mount("/usr", "/usr", rootfs.BIND_OPTIONS),), symlinks=(("bin", "usr/bin"),), masked=())
    path = str(tmp_path / "c" / "0" / "rootfs")
    rootfs.prepare(path, lay, extra_dirs=("/data/db", "/usr/share/x", "/bin/y"))
    assert os.stat(os.path.join(path, "tmp")).st_mode & 0o7777 == 0o1777
    assert os.readlink(os.path.join(path, "var/run")) == "../run"
    assert os.readlink(os.path.join(path, "bin")) == "usr/bin"
    assert os.path.isdir(os.path.join(path, "data/db"))
    assert os.listdir(os.path.join(path, "usr")) == []  # never write under a read-only host dir
    with pytest.raises(FileExistsError):
        rootfs.prepare(path, lay)  # a start always gets a fresh layer
    rootfs.remove(path)
    assert not os.path.exists(path)
    rootfs.remove(path)  # idempotent


def test_mounts_under_parses_mountinfo(tmp_path) -> None:
    info = tmp_path / "mountinfo"
    info.write_text("22 27 0:21 / /proc rw - proc proc rw\n"
                    "90 27 0:50 / /data/pods/u/my\\040dir rw - tmpfs tmpfs rw\n"
                    "91 27 0:51 / /data/pods/u2 rw - tmpfs tmpfs rw\n")
    assert rootfs.mounts_under("/data/pods/u", str(info)) == ["/data/pods/u/my dir"]
