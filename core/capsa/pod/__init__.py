"""Pods: groups of containers that share namespaces held by an infra container (podman's pods)."""
