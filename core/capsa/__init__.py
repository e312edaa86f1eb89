"""capsa: a daemonless container engine with pluggable drivers.

This module stays import-free so that ``capsa --version`` answers before anything else loads.
"""
from __future__ import annotations

__version__ = "0.1.0"
