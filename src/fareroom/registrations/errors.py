"""The paid meetings' refusals (docs/paid-meetings.md names their codes)."""

from __future__ import annotations

from fareroom.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed


class PaidMeetingNotFound(NotFound):
    code = "paid_meeting_not_found"

    def __init__(self) -> None:
        super().__init__("No paid meeting has this code or id.")


class RegistrationNotFound(NotFound):
    code = "registration_not_found"

    def __init__(self) -> None:
        super().__init__("No such registration.")


class OccurrenceNotFound(NotFound):
    code = "occurrence_not_found"

    def __init__(self) -> None:
        super().__init__("This meeting has no such occurrence.")


class ConnectRequired(Conflict):
    code = "connect_required"

    def __init__(self) -> None:
        super().__init__("Connect your Stripe account (profile settings → Connect Stripe) and "
                         "finish its onboarding before you charge for a meeting: registrants' "
                         "payments go to that account.")  # fmt: skip


class RegistrationClosed(Conflict):
    code = "registration_closed"


class SoldOut(Conflict):
    code = "sold_out"

    def __init__(self, when: str) -> None:
        super().__init__(f"The meeting of {when} has no seat left.", occurrence=when)


class TermsRequired(ValidationFailed):
    code = "terms_required"

    def __init__(self) -> None:
        super().__init__("Accept the terms and the refund policy to register.")


class BadToken(Forbidden):
    code = "registration_token_invalid"

    def __init__(self) -> None:
        super().__init__("This link is not valid for this registration.")


class NotRefundable(Conflict):
    code = "registration_not_refundable"
