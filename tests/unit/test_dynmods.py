"""agent/dynmods.py's pure parts: finding the cgroup2 mount, the remount arguments that keep
every other option, which kernels can turn favordynmods off again, and the restore rules."""

from __future__ import annotations

import json

import pytest

from kubeproc.agent import dynmods
from kubeproc.agent.dynmods import Cgroup2Mount

HYBRID = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
31 22 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
32 31 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
33 31 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
"""

PURE_V2 = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:30 /kubepods /mnt/sub rw,relatime shared:12 - cgroup2 cgroup2 rw,nsdelegate
41 22 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:13 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot,favordynmods
"""


@pytest.mark.parametrize("text, path, mount_opts, super_opts, favored", [
    (HYBRID, "/sys/fs/cgroup/unified", ("rw", "nosuid", "nodev", "noexec", "relatime"),
     ("rw", "nsdelegate"), False),
    # a bind of a sub-tree is skipped for the hierarchy's root
    (PURE_V2, "/sys/fs/cgroup", ("rw", "nosuid", "nodev", "noexec", "relatime"),
     ("rw", "nsdelegate", "memory_recursiveprot", "favordynmods"), True),
    # mountinfo escapes a space as \040; optional fields may be absent
    ("50 1 0:40 / /my\\040cg rw - cgroup2 none rw\n", "/my cg", ("rw",), ("rw",), False),
])
def test_find_cgroup2(text, path, mount_opts, super_opts, favored) -> None:
    m = dynmods.find_cgroup2(text)
    assert m == Cgroup2Mount(path, mount_opts, super_opts)
    assert m.favored is favored


@pytest.mark.parametrize("text", ["", "22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n",
                                  HYBRID.replace("cgroup2 cgroup2", "cgroup cgroup")])
def test_no_cgroup2_mount(text) -> None:
    assert dynmods.find_cgroup2(text) is None


def test_remount_names_every_super_option_and_keeps_the_mount_flags() -> None:
    m = dynmods.find_cgroup2(HYBRID)
    flags, data = dynmods.remount_args(m, m.super_options + ("favordynmods",))
    # MS_REMOUNT | nosuid | nodev | noexec | relatime: a legacy remount clears what it omits
    assert flags == 32 | 2 | 4 | 8 | (1 << 21)
    assert data == "nsdelegate,favordynmods"  # nsdelegate kept: cgroup2 resets what is not named


@pytest.mark.parametrize("release, expected", [
    ("6.1.0-18-amd64", True),
    ("6.17.9", True),
    ("5.15.0-91-generic", True),
    ("6.18.44-fc-v769", False),  # per-threadgroup rwsem: one-way until reboot
    ("7.0.1", False),
    ("weird", False),  # unknown: never risk the half-undo
])
def test_reversible(release, expected) -> None:
    assert dynmods.reversible(release) is expected


class FakeHost:
    """current() and _remount() over a mount held in memory."""

    def __init__(self, monkeypatch, super_options: tuple[str, ...]) -> None:
        self.mount = Cgroup2Mount("/cg", ("rw", "relatime"), super_options)
        self.remounts: list[tuple[str, ...]] = []
        monkeypatch.setattr(dynmods, "current", lambda *a: self.mount)
        monkeypatch.setattr(dynmods, "_remount", self.remount)

    def remount(self, m: Cgroup2Mount, opts: tuple[str, ...]) -> None:
        self.remounts.append(opts)
        self.mount = Cgroup2Mount(m.path, m.mount_options, opts)


def test_favor_then_restore_on_a_reversible_kernel(monkeypatch, tmp_path) -> None:
    host = FakeHost(monkeypatch, ("rw", "nsdelegate"))
    record = str(tmp_path / "run" / "record")
    assert "turned off again" in dynmods.favor(record, release="6.6.0")
    assert host.mount.favored
    assert json.load(open(record))["super_options"] == ["rw", "nsdelegate"]
    dynmods.restore(True, record)  # another instance runs: it stays
    assert host.mount.favored and host.remounts == [("rw", "nsdelegate", "favordynmods")]
    dynmods.restore(False, record)
    assert host.mount.super_options == ("rw", "nsdelegate")
    assert not (tmp_path / "run" / "record").exists()


def test_one_way_kernel_writes_no_record_and_restore_leaves_it(monkeypatch, tmp_path) -> None:
    host = FakeHost(monkeypatch, ("rw",))
    record = str(tmp_path / "record")
    assert "until reboot" in dynmods.favor(record, release="6.18.2")
    assert host.mount.favored and not (tmp_path / "record").exists()
    dynmods.restore(False, record)
    assert host.mount.favored and len(host.remounts) == 1


def test_already_set_by_the_admin_is_left_alone(monkeypatch, tmp_path) -> None:
    host = FakeHost(monkeypatch, ("rw", "favordynmods"))
    record = str(tmp_path / "record")
    assert "already set" in dynmods.favor(record, release="6.6.0")
    dynmods.restore(False, record)
    assert host.remounts == [] and not (tmp_path / "record").exists()


def test_a_kernel_that_refuses_leaves_no_record(monkeypatch, tmp_path) -> None:
    host = FakeHost(monkeypatch, ("rw",))

    def refuse(m, opts):
        raise OSError(22, "Invalid argument")
    monkeypatch.setattr(dynmods, "_remount", refuse)
    record = str(tmp_path / "record")
    assert "not set" in dynmods.favor(record, release="5.10.0")
    assert not host.mount.favored and not (tmp_path / "record").exists()


def test_a_kernel_that_ignores_it_leaves_no_record(monkeypatch, tmp_path) -> None:
    host = FakeHost(monkeypatch, ("rw",))
    monkeypatch.setattr(dynmods, "_remount", lambda m, opts: None)  # a cgroup namespace
    record = str(tmp_path / "record")
    assert "not taken" in dynmods.favor(record, release="6.6.0")
    assert not host.mount.favored and not (tmp_path / "record").exists()
