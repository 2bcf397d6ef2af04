"""The node agent ("kubelet"): runs the pods bound to this node as real, isolated processes.

Sub-packages own one side effect each: `runtime/` (runc containers, root filesystems, logs,
exit codes) and `network/` (pod network namespaces, veths, the bridge).
"""
