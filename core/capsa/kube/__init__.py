"""Kubernetes YAML: Pod (and Deployment) documents written from pods and containers, and read back."""
