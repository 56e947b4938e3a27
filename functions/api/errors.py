"""API errors and their one mapping to HTTP responses (FastAPI's ``{"detail": ...}`` shape)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from shared.lrc import LyricsError
from shared.store import CursorError


class ApiError(Exception):
    """An error the caller can act on: ``status`` and a ``detail`` that names what was wrong."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequestError(ApiError):
    """The request is understood but not possible in the job's current state."""

    status = 400


class AuthError(ApiError):
    """Missing or unknown API key."""

    status = 401


class NotFoundError(ApiError):
    """No such job for this caller (another caller's job is reported the same way)."""

    status = 404


class ConflictError(ApiError):
    """The job's state forbids the action, or an Idempotency-Key was reused with another body."""

    status = 409


class RateLimitError(ApiError):
    """Too many jobs in this window."""

    status = 429


class UnavailableError(ApiError):
    """A dependency failed; the request was not accepted and may be retried."""

    status = 503


class FieldError(ApiError):
    """A request field that passed the schema but not the service's checks (422, FastAPI's list shape)."""

    status = 422

    def __init__(self, loc: Sequence[str | int], msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.errors = [{"loc": ["body", *loc], "msg": msg, "type": kind}]

    @classmethod
    def many(cls, fields: Sequence[str], msg: str, kind: str = "value_error") -> FieldError:
        """One problem that several fields make together (e.g. a request's cost): ``msg`` under each of them."""
        error = cls([fields[0]], msg, kind)
        error.errors = [{"loc": ["body", field], "msg": msg, "type": kind} for field in fields]
        return error


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    detail: Any = getattr(error, "errors", error.detail)
    return JSONResponse({"detail": detail}, status_code=error.status, headers=error.headers)


async def _lyrics_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LyricsError)
    detail = [
        {"loc": ["body", "lyrics"], "msg": str(issue), "type": "value_error.lyrics", "ctx": {"line": issue.line}}
        for issue in error.issues
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _printable(text: str) -> str:
    """``text`` that encodes as UTF-8 (a lone surrogate becomes its escape)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's 422 shape, ``{loc, msg, type}`` per problem, without echoing the input: what a client sent may not
    even encode (a lone surrogate), and it need not be sent back."""
    assert isinstance(error, RequestValidationError)
    detail = [{"loc": [_printable(str(part)) if isinstance(part, str) else part for part in problem["loc"]],
               "msg": _printable(str(problem["msg"])), "type": problem["type"]} for problem in error.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


async def _cursor_error(_: Request, error: Exception) -> JSONResponse:
    detail = [{"loc": ["query", "cursor"], "msg": str(error), "type": "value_error"}]
    return JSONResponse({"detail": detail}, status_code=422)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(LyricsError, _lyrics_error)
    app.add_exception_handler(CursorError, _cursor_error)
