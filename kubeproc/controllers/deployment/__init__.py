"""The Deployment controller (pkg/controller/deployment): pure plan, rolling/recreate
strategies, pod-template-hash, and the reconciler that applies them."""
