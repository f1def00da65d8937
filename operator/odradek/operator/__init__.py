"""Kubernetes operator (kopf). Not implemented yet: see the issues."""
