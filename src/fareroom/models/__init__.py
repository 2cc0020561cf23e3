"""ORM models, one module per aggregate. Importing this package registers every table."""

from fareroom.models.billing import (
    Bill,
    BillAttempt,
    BillingSettings,
    BillLine,
    CancellationType,
    PaymentCancellation,
    PaymentRun,
    RunDefinition,
    RunItem,
    Wallet,
    WalletMovement,
)  # fmt: skip
from fareroom.models.business import ApiKey, Business, User, WebSession
from fareroom.models.chat import (
    AgentPresence,
    AgentTariff,
    ChatMessage,
    ChatRoom,
    ChatVisit,
    PaymentRequest,
    RoomAgent,
)  # fmt: skip
from fareroom.models.client import Card, Client
from fareroom.models.gateway import (
    GatewayRequest,
    IdempotencyRecord,
    SandboxObject,
    TokenBucketRow,
    WebhookEvent,
)  # fmt: skip
from fareroom.models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransfer
from fareroom.models.mail import OutboxMail
from fareroom.models.meeting import (
    DialIn,
    MeetingAudit,
    MeetingBan,
    MeetingGroup,
    MeetingGroupMember,
    MeetingInvitee,
    MeetingMessage,
    MeetingParticipant,
    MeetingRoom,
    MeetingTicket,
)  # fmt: skip
from fareroom.models.metering import ChatSession, Collection, MeterEventRow, TariffRow
from fareroom.models.payment import Payment, Payout, Refund
from fareroom.models.registration import (
    MeetingCode,
    Notification,
    Occurrence,
    PaidMeeting,
    Registration,
    RegistrationItem,
)
from fareroom.models.stats import DailyStat

__all__ = [
    "AgentPresence", "AgentTariff", "ApiKey", "Business", "Card", "ChatMessage", "ChatRoom",
    "ChatSession", "ChatVisit", "Client",
    "Collection", "DialIn", "MeetingAudit", "MeetingBan", "MeetingGroup", "MeetingGroupMember",
    "MeetingInvitee", "MeetingMessage", "MeetingParticipant", "MeetingRoom", "MeetingTicket",
    "GatewayRequest", "IdempotencyRecord", "LedgerAccount", "LedgerBalance",
    "LedgerEntry", "LedgerTransfer", "MeterEventRow", "OutboxMail", "Payment",
    "PaymentRequest", "Payout", "Refund", "RoomAgent", "SandboxObject", "TariffRow", "User",
    "WebSession", "WebhookEvent", "MeetingCode", "Notification", "Occurrence", "PaidMeeting",
    "Registration", "RegistrationItem", "Bill", "BillAttempt", "BillingSettings", "BillLine",
    "PaymentRun", "RunDefinition", "RunItem", "TokenBucketRow", "Wallet", "WalletMovement",
    "CancellationType", "PaymentCancellation", "DailyStat",
]  # fmt: skip
