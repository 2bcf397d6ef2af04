"""Patch application: JSON merge patch (RFC 7386) and Kubernetes strategic merge patch."""
