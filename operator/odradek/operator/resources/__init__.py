"""Pure functions building Kubernetes manifests (plain dicts, as the API takes them) from the operator's resources.

Nothing here does I/O: `kube.py` applies what these return. Same input, same manifest, so reconciling twice is a
no-op for the API server (server-side apply of an unchanged manifest changes nothing).
"""
