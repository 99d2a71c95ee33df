"""Errors an action raises, in any app; the API and pages turn them into 4xx answers."""


class CaseError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, **extra) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra


class InvalidInput(CaseError):
    status_code = 422


class Forbidden(CaseError):
    status_code = 403


class NotFound(CaseError):
    status_code = 404


class Conflict(CaseError):
    status_code = 409


class IllegalTransition(Conflict):
    def __init__(self, message: str, *, allowed: list[str], **extra) -> None:
        super().__init__(message, allowed=allowed, **extra)
        self.allowed = allowed
