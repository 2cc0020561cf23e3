"""ORM models, one module per aggregate. Importing this package registers every table."""

from fareroom.models.business import ApiKey, Business, User, WebSession
from fareroom.models.client import Card, Client
from fareroom.models.gateway import GatewayRequest, IdempotencyRecord, SandboxObject, WebhookEvent
from fareroom.models.ledger import LedgerAccount, LedgerBalance, LedgerEntry, LedgerTransfer
from fareroom.models.payment import Payment, Payout, Refund

__all__ = [
    "ApiKey", "Business", "Card", "Client", "GatewayRequest", "IdempotencyRecord",
    "LedgerAccount", "LedgerBalance", "LedgerEntry", "LedgerTransfer", "Payment", "Payout",
    "Refund", "SandboxObject", "User", "WebSession", "WebhookEvent",
]  # fmt: skip
