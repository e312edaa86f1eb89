"""A driver module whose dependency is missing."""
import capsa_this_dependency_is_missing  # noqa: F401
