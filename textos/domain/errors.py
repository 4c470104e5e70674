"""Domain errors, each mapped to an OVH-shaped HTTP answer by the API layer."""

from __future__ import annotations

from typing import Mapping


class TextosError(Exception):
    """A refusal to show to the caller: HTTP status, OVH error class and a message naming the field."""

    status = 400
    error_class = "Client::BadRequest"
    headers: Mapping[str, str] = {}
    """Extra response headers (``Retry-After``)."""

    def __init__(self, message: str, *, error_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


class BadRequest(TextosError):
    pass


class NotFound(TextosError):
    status = 404
    error_class = "Client::NotFound"


class Conflict(TextosError):
    status = 409
    error_class = "Client::Conflict"


class Forbidden(TextosError):
    status = 403
    error_class = "Client::Forbidden"


class NotEnoughCredits(Forbidden):
    error_class = "Client::Forbidden::NotEnoughCredits"


class TooManyRequests(TextosError):
    """Refused for now; ask again later (in ``retry_after`` seconds, sent as ``Retry-After``, when known)."""

    status = 429
    error_class = "Client::TooManyRequests"

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        if retry_after is not None:
            self.headers = {"Retry-After": str(retry_after)}
