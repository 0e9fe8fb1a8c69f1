"""One place that turns every failure into an OData error body with the right status."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..core.clock import ClockError
from ..core.errors import MockError, WindchillError

__all__ = ["error_response", "register_error_handlers"]

log = logging.getLogger("mock_server")

_HTTP_CODES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    411: "LengthRequired",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    428: "PreconditionRequired",
    429: "TooManyRequests",
    500: "InternalError",
    501: "NotImplemented",
    503: "ServiceUnavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """``{"error": {"code": …, "message": …}}`` as OData JSON (``details`` when known)."""
    error: dict[str, Any] = {
        "code": code or _HTTP_CODES.get(status, str(status)),
        "message": message,
    }
    if detail:
        error["details"] = [{"code": error["code"], "message": detail}]
    response = jsonify({"error": error})
    response.status_code = status
    response.headers["OData-Version"] = "4.0"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(WindchillError)
    def windchill_error(error: WindchillError) -> Response:
        return error_response(
            error.http_status,
            error.message,
            code=error.code,
            detail=error.detail,
            headers=error.headers,
        )

    @app.errorhandler(MockError)
    def mock_error(error: MockError) -> Response:
        return error_response(400, str(error), code="InvalidMockRequest")

    @app.errorhandler(ClockError)
    def clock_error(error: ClockError) -> Response:
        return error_response(400, str(error), code="InvalidMockRequest")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        headers = {}
        if status == 405:
            allow = dict(error.get_headers()).get("Allow")
            if allow:
                headers["Allow"] = allow
        message = error.description or error.name
        if status == 404:
            message = "No resource at this URL in the mock's Windchill REST Services"
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:  # pragma: no cover - a bug if reached
        log.exception("unexpected error in the mock")
        return error_response(500, f"Internal error in the mock: {type(error).__name__}")
