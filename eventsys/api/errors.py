"""Domain errors: raised by services, turned into HTTP answers by the one exception handler."""


class DomainError(Exception):
    """A business rule refused the request. Subclasses set the HTTP status and a stable code."""

    status_code = 400
    code = "invalid"
    default_detail = "The request was refused."

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        super().__init__(self.detail)

    def payload(self) -> dict:
        """The response body: detail and code, plus whatever a subclass adds."""
        return {"detail": self.detail, "code": self.code}


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_detail = "The request conflicts with the current state."


class TooManyRequests(DomainError):
    status_code = 429
    code = "throttled"
    default_detail = "Too many requests."

    def __init__(self, detail: str | None = None, *, retry_after: int):
        super().__init__(detail, headers={"Retry-After": str(max(1, int(retry_after)))})
        self.retry_after = retry_after
