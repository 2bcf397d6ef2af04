"""`kubeproc demo`: the stateless-versus-stateful story, told by watching real pods.

`api.py` reads the running instance's API (HTTPS, bearer token) and streams watches; `observe.py`
records every pod event with its arrival time, so order and timing are measured, not assumed;
`ui.py` prints sections, the kubectl commands the demo runs and a progress line while it waits;
`steps.py` runs the eight steps (each returns what it measured) and `report.py` builds the
closing table from those measurements.
"""
