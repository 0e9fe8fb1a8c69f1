"""Domain errors. Each carries the HTTP status the adapter should answer with.

Like h11's ``error_status_hint``: the core never speaks HTTP, but it knows which status
describes a rejection. A rejected operation never changes state.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "BadRequest",
    "CheckedOut",
    "ConcurrentModification",
    "Conflict",
    "Forbidden",
    "InjectedFault",
    "MockError",
    "NotFound",
    "NotLatestIteration",
    "PreconditionFailed",
    "PreconditionRequired",
    "Unauthorized",
    "WindchillError",
]


class WindchillError(Exception):
    """Base of every error the mock reports to a client as an OData error body."""

    http_status = 500
    code = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: A longer explanation, sent as the OData error's ``details``.
        self.detail = detail
        if code is not None:
            self.code = code
        if status is not None:
            self.http_status = status
        self.headers: dict[str, str] = dict(headers or {})


class BadRequest(WindchillError):
    http_status = 400
    code = "BadRequest"


class Unauthorized(WindchillError):
    http_status = 401
    code = "Unauthorized"


class Forbidden(WindchillError):
    http_status = 403
    code = "Forbidden"


class NotFound(WindchillError):
    http_status = 404
    code = "NotFound"


class Conflict(WindchillError):
    http_status = 409
    code = "Conflict"


class ConcurrentModification(Conflict):
    """409 of the ``thread`` profile: the ETag moved but the iteration did not."""

    code = "ConcurrentModification"


class CheckedOut(Conflict):
    """The document is checked out by somebody else (or must be edited via its working copy)."""

    code = "CheckedOut"


class NotLatestIteration(Conflict):
    """A write to a past iteration's ``OR:``: only the latest iteration can change."""

    code = "NotLatestIteration"


class PreconditionFailed(WindchillError):
    http_status = 412
    code = "PreconditionFailed"


class PreconditionRequired(WindchillError):
    http_status = 428
    code = "PreconditionRequired"


class InjectedFault(WindchillError):
    """A failure a test asked for (503, 429, ...), with an optional ``Retry-After``."""

    code = "InjectedFault"
    #: The ``Retry-After`` asked for, in the mock's seconds (the header may speak in a sped-up
    #: clock's real seconds).
    retry_after: float | None = None


class MockError(ValueError):
    """Misuse of the mock's own API (bad intervention, bad config): not a client error."""
