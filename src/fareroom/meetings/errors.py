"""The meetings domain's refusals (docs/meetings.md names their codes)."""

from __future__ import annotations

from fareroom.kit.errors import Conflict, FareroomError, Forbidden, NotFound, Unauthenticated


class MeetingNotFound(NotFound):
    code = "meeting_not_found"

    def __init__(self) -> None:
        super().__init__("No meeting has this code.")


class RoomNotFound(NotFound):
    code = "room_not_found"

    def __init__(self) -> None:
        super().__init__("No such meeting room.")


class GroupNotFound(NotFound):
    code = "group_not_found"

    def __init__(self) -> None:
        super().__init__("No such group.")


class NotYourRoom(Forbidden):
    """An agent's hand on a room someone else hosts."""

    code = "not_your_room"

    def __init__(self) -> None:
        super().__init__("This meeting room is hosted by someone else: only its host, owners "
                         "and admins may change it.")  # fmt: skip


class RoomInUse(Conflict):
    code = "room_in_use"

    def __init__(self) -> None:
        super().__init__("Someone is in this room's meeting now; delete it once they left.")


class WrongPassword(Forbidden):
    code = "wrong_password"

    def __init__(self) -> None:
        super().__init__("The meeting's password is not right.")


class PasswordRequired(Forbidden):
    code = "password_required"

    def __init__(self) -> None:
        super().__init__("This meeting has a password; type it to join.")


class MeetingLocked(FareroomError):
    status = 423
    code = "meeting_locked"
    title = "Locked"

    def __init__(self) -> None:
        super().__init__("The host has locked this meeting: no one new may join.")


class MeetingFull(Conflict):
    code = "meeting_full"

    def __init__(self, most: int) -> None:
        super().__init__(f"This meeting is full: it has room for {most} participants.")


class CodeInUse(Conflict):
    code = "code_in_use"

    def __init__(self) -> None:
        super().__init__("Someone is in this meeting with this code now: a code lets one "
                         "person in at a time. Leave the meeting on the other device "
                         "first.")  # fmt: skip


class CodeEnded(Forbidden):
    code = "code_revoked"

    def __init__(self) -> None:
        super().__init__("This meeting code no longer lets anyone in: its registration was "
                         "refunded or cancelled.")  # fmt: skip


class Removed(Forbidden):
    code = "removed_from_meeting"

    def __init__(self) -> None:
        super().__init__("A host removed you from this meeting; you cannot join it again.")


class TicketRefused(Unauthenticated):
    """A hello's ticket: unknown, used, lapsed or from another device."""

    code = "ticket_refused"


class HostOnly(Forbidden):
    code = "host_only"

    def __init__(self) -> None:
        super().__init__("Only a host may do this.")


class ParticipantNotFound(NotFound):
    code = "participant_not_found"

    def __init__(self) -> None:
        super().__init__("That participant is not in this meeting.")


class PeerNotFound(NotFound):
    code = "peer_not_found"

    def __init__(self) -> None:
        super().__init__("That participant is not in this meeting (any more).")


class InLobby(Conflict):
    code = "in_lobby"

    def __init__(self) -> None:
        super().__init__("You are waiting for the host to let you in.")


class UnmuteNotAllowed(Forbidden):
    code = "unmute_not_allowed"

    def __init__(self) -> None:
        super().__init__("A host muted you; only a host can let you speak again.")


class SharePausedByHost(Forbidden):
    code = "share_paused_by_host"

    def __init__(self) -> None:
        super().__init__("A host paused your screen share; only a host can resume it.")


class RecordingNotAllowed(Forbidden):
    code = "recording_not_allowed"

    def __init__(self) -> None:
        super().__init__("Nobody may record this meeting.")


class RecordingNotPermitted(Forbidden):
    code = "recording_not_permitted"

    def __init__(self) -> None:
        super().__init__("Ask a host for permission to record first.")


class InvalidSchedule(FareroomError):
    status = 422
    code = "invalid_schedule"
    title = "Invalid request"
