"""agent/dynmods.py on this host's real cgroup2 mount: favordynmods is set, and on kernels that
can turn it off again the restore puts the mount back as it was."""

from __future__ import annotations

import os

import pytest

from kubeproc.agent import dynmods


def test_favor_sets_the_option_on_the_real_cgroup2_mount(tmp_path) -> None:
    before = dynmods.current()
    if before is None:
        pytest.skip("this host has no cgroup2 mount")
    record = str(tmp_path / "record")
    said = dynmods.favor(record)
    after = dynmods.current()
    assert after is not None and after.favored, said
    assert after.mount_options == before.mount_options  # nosuid, relatime ... kept
    assert set(before.super_options) - {"favordynmods"} <= set(after.super_options)
    if before.favored:
        assert "already set" in said and not os.path.exists(record)
    elif dynmods.reversible(os.uname().release):
        assert os.path.exists(record)
        dynmods.restore(False, record)
        assert dynmods.current() == before and not os.path.exists(record)
    else:  # one-way until reboot: nothing to restore
        assert "until reboot" in said and not os.path.exists(record)
