"""Suite-wide settings."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# Generation and run speed depend on how busy the machine is, not on the code under test: a
# slow draw or example on a loaded CI runner must not fail a property test.
settings.register_profile("sioscope", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("sioscope")
