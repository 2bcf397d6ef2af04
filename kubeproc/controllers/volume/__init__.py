"""Persistent volumes: binding (the PV controller), the local-path provisioner, protection
finalizers and the WaitForFirstConsumer hand-off from the scheduler.

`binder`, `provisioner`, `protection` and `scheduling` are pure; `localpath` is the only module
touching the filesystem; `reconciler` wires them to the API.
"""
