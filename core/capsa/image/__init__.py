"""Image formats: manifests, configs, references."""
