"""kubeproc: Kubernetes workloads as real processes on one Linux machine."""

__version__ = "0.1.0"
