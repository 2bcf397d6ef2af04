"""Container runtime seam: the `Runtime` protocol the agent drives, and its runc implementation.

`catalog` maps images to host programs, `bundle` renders OCI runtime specs (pure), `rootfs`
lays out a container's root filesystem, `runc` runs containers through the runc binary with one
`monitor` process per instance that writes CRI-format logs (rotated) and records exit codes.
"""
