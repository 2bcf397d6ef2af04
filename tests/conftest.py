"""Settings for the whole test suite.

KUBEPROC_CHECK_SHARED=1 makes shared watch objects (LocalClient.watch_all) deeply read-only, so
a controller that mutates one fails loudly; set at import time so that kubeproc subprocesses
started by tests (kubeproc/testing/instance.py inherits the environment) check it too.
"""

import os

os.environ.setdefault("KUBEPROC_CHECK_SHARED", "1")
