"""The error base: every business error carries a machine-readable code and an HTTP status.

Services raise these; one handler in ``app.py`` renders them as RFC 9457 problem details for
the API and as a message for pages. Services never raise HTTP exceptions.
"""

from __future__ import annotations

from typing import Any, ClassVar


class FareroomError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        title: str | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or type(self).code  # type: ignore[misc]
        self.status: int = status or type(self).status  # type: ignore[misc]
        self.title: str = title or type(self).title  # type: ignore[misc]
        self.details = details

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://fareroom.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "code": self.code,
            "detail": self.message,
        }
        body.update(self.details)
        return body


class ValidationFailed(FareroomError):
    status = 422
    code = "validation_failed"
    title = "Invalid request"


class NotFound(FareroomError):
    status = 404
    code = "not_found"
    title = "Not found"


class Unauthenticated(FareroomError):
    status = 401
    code = "unauthenticated"
    title = "Authentication required"


class Forbidden(FareroomError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Conflict(FareroomError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PaymentFailed(FareroomError):
    status = 402
    code = "payment_failed"
    title = "Payment failed"


class ServiceUnavailable(FareroomError):
    """A dependency (the gateway) failed transiently; the same request may be retried."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"


class BadGateway(FareroomError):
    status = 502
    code = "gateway_misconfigured"
    title = "Payment gateway misconfigured"


# Leaves raised by more than one domain.


class InvalidEmail(ValidationFailed):
    code = "invalid_email"

    def __init__(self, message: str = "The email address is not valid.") -> None:
        super().__init__(message)


class NameRequired(ValidationFailed):
    code = "name_required"

    def __init__(self, what: str) -> None:
        super().__init__(f"A {what} needs a name.")


class InvalidPeriod(ValidationFailed):
    """A reporting period: a date that is none, or an end before the start."""

    code = "invalid_period"
