"""Suite-wide settings."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Generation and run speed depend on how busy the machine is, not on the code under test: a
# slow draw or example on a loaded CI runner must not fail a property test.
settings.register_profile("sioscope", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("sioscope")


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run meant for the compiled build must not quietly test the sources instead."""
    if os.environ.get("SIOSCOPE_EXPECT_COMPILED") != "1":
        return
    import analyzer.net.tcp

    if analyzer.net.tcp.__file__ is None or analyzer.net.tcp.__file__.endswith(".py"):
        pytest.exit(f"expected the compiled build, imported {analyzer.net.tcp.__file__}", 3)
