"""Spread many short-lived directory trees over the filesystem (the ext4 "top directory" flag).

Each pod makes ~40 files and directories in the data dir (its pod directory, each container's
writable layer and bundle, logs, runc's state) and removes them when it goes. ext4 places a
new directory next to its parent, so every pod landed in the block group of `pods/`, where all
the removed pods had been. Without a journal (as this machine's root filesystem), ext4 avoids
reusing an inode freed in the last 60-300 s, and checks each free inode of the group in turn
(fs/ext4/ialloc.c, find_inode_bit and recently_deleted): after a burst of deletions every new
inode in that group costs a walk over the ones just freed (7 % of a 500-pod burst's machine
samples). `chattr +T` on the parent makes ext4 place each child directory as it places top-level
ones (the Orlov allocator spreads them over groups), which is what the flag is for: "the top of
directory hierarchies" (chattr(1)). Other filesystems refuse or ignore the flag; nothing else
changes.
"""

from __future__ import annotations

import fcntl
import os
import struct

FS_IOC_GETFLAGS = 0x80086601  # _IOR('f', 1, long)
FS_IOC_SETFLAGS = 0x40086602  # _IOW('f', 2, long)
FS_TOPDIR_FL = 0x00020000


def make_top(path: str) -> bool:
    """Create `path` if needed and set its top-directory flag; False where the filesystem does
    not have it."""
    os.makedirs(path, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4))[0]
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
        return True
    except OSError:  # ENOTTY (tmpfs), EOPNOTSUPP ...
        return False
    finally:
        os.close(fd)
