"""The kubeproc dashboard: a plain-HTTP, loopback-only web UI served by the instance itself.

`server` owns the listener (login, session cookie, Origin/Host checks, static files and the
cookie-authenticated pass-through to the API handlers); `static/` holds the page (ES modules).
"""
