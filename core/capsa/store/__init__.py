"""The image and layer store."""
