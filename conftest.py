"""Root conftest: enables pytester and registers the Hypothesis profiles.

``HYPOTHESIS_PROFILE`` picks the profile; ``CI=true`` selects ``ci`` when it is unset.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

pytest_plugins = ["pytester"]

settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
_default = "ci" if os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev"
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", _default))


def pytest_configure(config: object) -> None:
    """The checker writes a timeline page for every violation it reports; this suite makes
    many on purpose, so they go to a temporary directory, not the working tree."""
    if "WINDCHILL_TIMELINE_DIR" not in os.environ:
        os.environ["WINDCHILL_TIMELINE_DIR"] = tempfile.mkdtemp(prefix="windchill-timelines-")
