"""The reference update client: ``DocumentUpdater`` and its parts — retry policy,
three-way merge, review queues."""

from __future__ import annotations

from .merge import FieldConflict, MergeResult, changed_fields, three_way_merge
from .policy import RetryPolicy, parse_retry_after, rng
from .review import InMemoryReviewQueue, JsonLinesReviewQueue, ReviewItem, ReviewQueue
from .updater import DocumentUpdater, UpdateResult, UpdateStatus

__all__ = [
    "DocumentUpdater",
    "FieldConflict",
    "InMemoryReviewQueue",
    "JsonLinesReviewQueue",
    "MergeResult",
    "RetryPolicy",
    "ReviewItem",
    "ReviewQueue",
    "UpdateResult",
    "UpdateStatus",
    "changed_fields",
    "parse_retry_after",
    "rng",
    "three_way_merge",
]
