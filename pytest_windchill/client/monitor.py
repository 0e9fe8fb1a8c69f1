"""The conflict-rate monitor of the reference client: a warning when conflicts pile up."""

from __future__ import annotations

import logging

from ..outcomes import CONFLICT_STATUSES, UpdateResult

__all__ = ["ConflictRateMonitor"]

log = logging.getLogger("pytest_windchill.client")


class ConflictRateMonitor:
    """Counts updates and those that met a conflict (409/412); warns once the share of
    conflicted updates passes ``threshold`` over at least ten updates, and again after it
    dropped back."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.updates = 0
        self.conflicted_updates = 0
        self._warned = False

    @property
    def rate(self) -> float:
        return self.conflicted_updates / self.updates if self.updates else 0.0

    def record(self, result: UpdateResult) -> None:
        self.updates += 1
        if any(status in CONFLICT_STATUSES for status in result.conflicts):
            self.conflicted_updates += 1
        rate = self.rate
        if self.updates >= 10 and rate > self.threshold and not self._warned:
            self._warned = True
            log.warning(
                "conflict rate %.0f%% over %d updates is above %.0f%%: look for scheduled jobs "
                "or integrations touching these documents",
                rate * 100,
                self.updates,
                self.threshold * 100,
            )
        elif rate <= self.threshold:
            self._warned = False
