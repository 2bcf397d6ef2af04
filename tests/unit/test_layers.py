"""The import layering of DESIGN.md holds (import-linter contracts in .importlinter)."""

import os
import subprocess
import sys


def test_import_contracts_are_kept():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    exe = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    res = subprocess.run([exe, "--no-cache"], cwd=root, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout
