"""Containers: their configuration, OCI runtime spec, records and lifecycle."""
