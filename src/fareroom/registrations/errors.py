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


class CodeRequired(Forbidden):
    code = "code_required"

    def __init__(self) -> None:
        super().__init__("This is a paid meeting: type the meeting code from your "
                         "registration's confirmation.")  # fmt: skip


class CodeInvalid(Forbidden):
    code = "code_invalid"

    def __init__(self) -> None:
        super().__init__("This meeting code is not one of this meeting's.")


class CodeRevoked(Forbidden):
    code = "code_revoked"

    def __init__(self) -> None:
        super().__init__("This meeting code no longer lets anyone in: its registration was "
                         "refunded or cancelled.")  # fmt: skip


class CodeNotNow(Forbidden):
    code = "code_not_now"

    def __init__(self, when: str | None) -> None:
        super().__init__(f"This code is for the meeting of {when}: it lets you in from 30 "
                         "minutes before the start." if when else
                         "The meetings this code is for are over.")  # fmt: skip
