"""The real-registry fixtures (capsa.testing.registryfixtures), imported by conftest.py; kept
so that ``from registries import BASIC_USER, started_registries`` works in tests."""
from __future__ import annotations

from capsa.testing.registryfixtures import *  # noqa: F401,F403
