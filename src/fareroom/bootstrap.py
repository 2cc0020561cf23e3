"""The composition root: settings → adapters → services. Nothing else picks an adapter."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from fractions import Fraction
from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from fareroom.accounts.passwords import Passwords
from fareroom.accounts.service import AccountsService, SignInLimits
from fareroom.billing.cancellations import CancellationsService
from fareroom.billing.collect import CollectService
from fareroom.billing.payouts import PayoutsService
from fareroom.billing.receivables import ReceivablesService
from fareroom.billing.runs import RunsService
from fareroom.billing.service import BillsService
from fareroom.billing.tasks import BillingJobs
from fareroom.billing.wallets import WalletsService
from fareroom.chat.live import LiveService, VisitLimits
from fareroom.chat.realtime import Pages
from fareroom.chat.relay import Relay
from fareroom.chat.service import ChatService, SessionSurroundings
from fareroom.clients.service import ClientsService
from fareroom.config import Settings
from fareroom.gateway.base import GatewayError, PaymentGateway
from fareroom.gateway.log import GatewayLog, LoggedGateway, LogScope
from fareroom.gateway.sandbox import ProcessingFee, SandboxGateway, parse_fault_rates
from fareroom.idempotency.service import IdempotencyService
from fareroom.jobs import Jobs
from fareroom.jobs.inprocess import InProcessJobs
from fareroom.jobs.queue import QueueJobs
from fareroom.kit.bucket import LocalBucket, SharedBucket, TokenBucket
from fareroom.kit.clock import Clock, SystemClock
from fareroom.kit.db import (
    StatementCount,
    create_engine,
    is_sqlite,
    session_factory,
    transaction,
)
from fareroom.kit.errors import FareroomError
from fareroom.kit.ratelimit import InMemoryRateLimiter, RateLimiter, RedisRateLimiter
from fareroom.ledger.service import Account, Ledger
from fareroom.mail.outbox import FileSender, Sender, SmtpSender
from fareroom.meetings.chat import MeetingChat
from fareroom.meetings.live import LiveMeetings
from fareroom.meetings.realtime import MeetingPages
from fareroom.meetings.service import JoinLimits, MeetingsService
from fareroom.meetings.tasks import MeetingJobs
from fareroom.metering.service import MeteringService
from fareroom.metering.tasks import MeterJobs
from fareroom.payments.service import PaymentsService
from fareroom.pricing.fees import FeePolicy
from fareroom.realtime.connections import Registry
from fareroom.realtime.hub import Hub, InMemoryHub, RedisHub
from fareroom.realtime.pages import PageTimings
from fareroom.registrations.service import RegistrationLimits, RegistrationsService
from fareroom.revenue.service import RevenueService
from fareroom.webhooks.service import WebhooksService

log = logging.getLogger("fareroom.bootstrap")


def sandbox_database_url(url: str) -> str:
    """The sandbox keeps its store beside ours: a sibling file on SQLite (a second writer
    could not write while a request holds the main file's lock), the same database on
    PostgreSQL."""
    if not is_sqlite(url):
        return url
    base, dot, ext = url.rpartition(".")
    return f"{base}-sandbox.{ext}" if dot and "/" not in ext else f"{url}-sandbox"


# A meeting's frame may carry an offer's whole SDP (a few kilobytes; with every candidate
# gathered, more).
MEETING_MESSAGE_BYTES = 32_768


@dataclass
class Services:
    """Services bound to one session (one unit of work)."""

    session: AsyncSession
    accounts: AccountsService
    clients: ClientsService
    payments: PaymentsService
    chat: ChatService
    metering: MeteringService
    live: LiveService
    revenue: RevenueService
    bills: BillsService
    collect: CollectService
    runs: RunsService
    wallets: WalletsService
    cancellations: CancellationsService
    receivables: ReceivablesService
    payouts: PayoutsService
    ledger: Ledger
    webhooks: WebhooksService
    meetings: MeetingsService
    registrations: RegistrationsService
    meeting_live: LiveMeetings
    log: LogScope


@dataclass
class Context:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    gateway: PaymentGateway
    gateway_log: GatewayLog
    sandbox: SandboxGateway | None
    sandbox_engine: AsyncEngine | None
    fees: FeePolicy
    idempotency: IdempotencyService
    hub: Hub
    connections: Registry
    limits: RateLimiter  # in memory, or Redis (shared by every process) with a Redis URL
    jobs: Jobs  # in this process (SQLite), or procrastinate's queue (PostgreSQL)
    ledger_accounts: dict[str, Account] = field(default_factory=dict)
    passwords: Passwords = field(default_factory=Passwords)
    # Statements sent by both engines, with FAREROOM_BENCH_COUNTERS only (see app.py).
    statements: StatementCount | None = None

    @property
    def processing_fee(self) -> tuple[Fraction, int]:
        """The gateway's processing fee per charge (rate, fixed), for tariff warnings."""
        return Fraction(self.settings.processing_fee_rate), self.settings.processing_fee_fixed

    @cached_property
    def signin_limits(self) -> SignInLimits:
        st = self.settings
        return SignInLimits(self.limits, st.limit_signin_account, st.limit_signin_address)

    @cached_property
    def visit_limits(self) -> VisitLimits:
        st = self.settings
        return VisitLimits(self.limits, st.limit_visits_address, st.limit_visits_room_address,
                           st.limit_holds_room_address, st.limit_chat_messages,
                           st.limit_leads_address,
                           st.limit_request_payments_room_address)  # fmt: skip

    @cached_property
    def join_limits(self) -> JoinLimits:
        st = self.settings
        return JoinLimits(
            self.limits, st.limit_meeting_password, st.limit_meeting_joins_room_address
        )

    @cached_property
    def meeting_pages(self) -> MeetingPages:
        """What the meeting's sockets need."""
        st = self.settings
        timings = PageTimings(
            heartbeat=st.heartbeat_seconds,
            offline_after=st.offline_after_seconds,
            hello=st.ws_hello_seconds,
            max_message_bytes=MEETING_MESSAGE_BYTES,
        )
        chat = MeetingChat(self.unit_of_work, self.clock, self.limits, st.limit_meeting_chat)
        return MeetingPages(self.unit_of_work, self.hub, self.connections, timings,
                            base_url=st.base_url, ice_servers=st.ice_servers,
                            max_participants=st.meeting_max_participants,
                            chat=chat)  # fmt: skip

    @cached_property
    def meeting_jobs(self) -> MeetingJobs:
        return MeetingJobs(
            self.unit_of_work,
            self.hub,
            self.clock,
            offline_after=self.settings.offline_after_seconds,
        )

    async def settle_cancellations(self, *, limit: int = 500) -> int:
        """Refund (or release) the seats of cancelled meetings, each registrant in a
        transaction of its own; one that fails (the gateway away) is tried again by the
        worker's next sweep. Returns how many were settled."""
        async with self.unit_of_work() as s:
            todo = await s.registrations.cancellations_to_settle(limit=limit)
        done = 0
        for business_id, registration_id, occurrence_id in todo:
            try:
                async with self.unit_of_work(business_id) as s:
                    await s.registrations.settle_cancelled(business_id, registration_id,
                                                           occurrence_id)  # fmt: skip
                done += 1
            except (FareroomError, GatewayError):
                log.warning("settling %s of a cancelled meeting failed; the worker tries again",
                            registration_id, exc_info=True)  # fmt: skip
        return done

    async def mark_no_shows(
        self,
        business: Any,
        paid_id: str,
        occurrence_id: str,
        no_shows: list[str],
        *,
        by: Any = None,
    ) -> tuple[list[Any], int]:
        """The host's no-shows after a meeting: checked in one transaction, then each held
        registrant captured or released in one of its own. Returns the registrations as they
        are now, and how many the gateway failed (still held: marking again retries them)."""
        async with self.unit_of_work(business.id) as s:
            plan = await s.registrations.no_show_plan(business, paid_id, occurrence_id,
                                                      no_shows, by=by)  # fmt: skip
        done, failed = [], 0
        for registration_id, no_show in plan:
            try:
                async with self.unit_of_work(business.id) as s:
                    done.append(
                        await s.registrations.settle_no_show(business.id, registration_id, no_show)
                    )
            except (FareroomError, GatewayError):
                failed += 1
                log.warning("a no-show's hold of %s failed", registration_id, exc_info=True)
        return done, failed

    async def expire_registrations(self) -> int:
        """The worker's: payments left half way are finished, unpaid registrations past
        their time give their seats back, and
        held ones follow what the gateway did to their hold, and the seats of cancelled
        meetings are refunded."""
        async with self.unit_of_work() as s:
            finished = await s.registrations.finish_attempts()
        async with self.unit_of_work() as s:
            expired = await s.registrations.expire_pending()
            followed = await s.registrations.follow_holds()
        return finished + expired + followed + await self.settle_cancellations()

    @cached_property
    def registration_limits(self) -> RegistrationLimits:
        st = self.settings
        return RegistrationLimits(self.limits, st.limit_registrations_address,
                                  st.limit_registration_payments_address,
                                  st.limit_meeting_password)  # fmt: skip

    @cached_property
    def gateway_pace(self) -> TokenBucket:
        """Payment runs' pace at the gateway: 99 % of its rate limit, shared by every
        worker, with little burst (a gateway's own bucket holds a burst of its own, which
        takes up the jitter between taking a token and the request's arrival)."""
        st = self.settings
        return bucket_for(st, self.engine, "gateway:pace", st.gateway_rate_limit * 0.99,
                          burst_seconds=0.05)  # fmt: skip

    @cached_property
    def billing(self) -> BillingJobs:
        """Payment runs' jobs and the billing schedule."""
        return BillingJobs(self.unit_of_work, self.clock, self.gateway_pace,
                           retries=self.settings.gateway_retries)  # fmt: skip

    @cached_property
    def meters(self) -> MeterJobs:
        """The meter's jobs (the worker's, and each request's for its own session)."""
        return MeterJobs(self.unit_of_work, self.sessions, self.hub, self.clock,
                         timedelta(seconds=self.settings.reconcile_after_seconds))  # fmt: skip

    @cached_property
    def relay(self) -> Relay:
        """What follows a change in a chat, whoever made it."""
        st = self.settings
        return Relay(self.unit_of_work, self.hub, self.clock, self.meters,
                     offline_after=st.offline_after_seconds,
                     presence_timeout=st.presence_timeout_seconds)  # fmt: skip

    @cached_property
    def pages(self) -> Pages:
        """What the pages' sockets need."""
        st = self.settings
        timings = PageTimings(heartbeat=st.heartbeat_seconds,
                              offline_after=st.offline_after_seconds,
                              hello=st.ws_hello_seconds,
                              max_message_bytes=st.ws_max_message_bytes)  # fmt: skip
        return Pages(self.unit_of_work, self.relay, self.connections, timings,
                     base_url=st.base_url, frames=st.limit_socket_frames)  # fmt: skip

    def services(self, session: AsyncSession, log: LogScope | None = None) -> Services:
        ledger = Ledger(session, self.clock, self.ledger_accounts)
        clients = ClientsService(session, self.gateway, self.clock)
        payments = PaymentsService(session, self.gateway, ledger, clients, self.clock, self.fees)
        metering = MeteringService(
            session, self.clock, clients, payments, ledger,
            timeout=timedelta(seconds=self.settings.presence_timeout_seconds),
            surroundings=SessionSurroundings(session))  # fmt: skip
        chat = ChatService(session, self.clock, clients, payments, metering, self.processing_fee)
        st = self.settings
        meetings = MeetingsService(session, self.clock, passwords=self.passwords,
                                   secret=st.secret_key.get_secret_value().encode(),
                                   limits=self.join_limits,
                                   max_participants=st.meeting_max_participants)  # fmt: skip
        registrations = RegistrationsService(session, self.clock, meetings=meetings,
                                             clients=clients, payments=payments,
                                             limits=self.registration_limits,
                                             base_url=st.base_url)  # fmt: skip
        meetings.door = registrations  # the paid meetings' codes at the meetings' door
        bills = BillsService(session, self.clock, ledger, clients)
        wallets = WalletsService(session, self.clock, ledger, payments, clients, self.jobs)
        return Services(
            session=session,
            accounts=AccountsService(session, self.clock, passwords=self.passwords,
                                     signin=self.signin_limits),
            clients=clients, payments=payments, chat=chat, metering=metering, ledger=ledger,
            live=LiveService(session, self.clock, chat, clients, payments, metering,
                             limits=self.visit_limits,
                             nobody_wait=timedelta(seconds=self.settings.queue_nobody_seconds)),
            revenue=RevenueService(session),
            bills=bills,
            collect=CollectService(session, self.clock, bills, payments, clients, wallets),
            wallets=wallets,
            cancellations=CancellationsService(session, self.clock, payments),
            receivables=ReceivablesService(session, ledger, clients, wallets, payments),
            payouts=PayoutsService(session, self.clock, ledger, payments),
            runs=RunsService(session, self.clock, self.jobs),
            webhooks=WebhooksService(session, self.gateway, payments, self.clock),
            meetings=meetings,
            registrations=registrations,
            meeting_live=LiveMeetings(session, self.clock, meetings),
            log=log or LogScope(),
        )  # fmt: skip

    @asynccontextmanager
    async def unit_of_work(self, business_id: str | None = None) -> AsyncIterator[Services]:
        """One transaction; gateway calls inside it are logged once it has ended."""
        async with (
            self.gateway_log.scope(business_id) as log,
            transaction(self.sessions) as session,
        ):
            yield self.services(session, log)
            await self.gateway_log.flush_into(session, log)

    def mail_sender(self) -> Sender:
        st = self.settings
        if st.smtp_host:
            return SmtpSender(st.smtp_host, st.smtp_port, username=st.smtp_username,
                              password=st.smtp_password.get_secret_value()
                              if st.smtp_password else None, starttls=st.smtp_starttls)  # fmt: skip
        return FileSender(st.mail_dir)

    async def close(self) -> None:
        await self.jobs.close()
        await self.hub.close()
        await self.limits.close()
        await self.engine.dispose()
        if self.sandbox_engine is not None:
            await self.sandbox_engine.dispose()


def bootstrap(settings: Settings | None = None, *, clock: Clock | None = None) -> Context:
    settings = settings or Settings()
    clock = clock or SystemClock()
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    log = GatewayLog(sessions, clock)
    sandbox: SandboxGateway | None = None
    sandbox_engine: AsyncEngine | None = None
    inner: Any
    if settings.gateway == "stripe":
        from fareroom.gateway.stripe import StripeGateway, make_client

        assert settings.stripe_secret_key is not None  # Settings refuses stripe without it
        secret = settings.stripe_webhook_secret
        inner = StripeGateway(
            make_client(settings.stripe_secret_key.get_secret_value(),
                        api_base=settings.stripe_api_base),
            webhook_secret=secret.get_secret_value() if secret else None)  # fmt: skip
    else:
        sandbox_url = sandbox_database_url(settings.database_url)
        # The sandbox has its own engine (and pool), whose commits need not wait for the
        # disk: it is test-mode state. On PostgreSQL the log is written in order, so any
        # later durable commit of ours (which may refer to it) makes it durable first; on
        # SQLite (a file of its own) a power cut may lose its last moments, and a payment
        # made then would later meet "no such charge" from the sandbox.
        sandbox_engine = create_engine(sandbox_url, durable=False)
        sandbox = SandboxGateway(
            session_factory(sandbox_engine), clock,
            webhook_secret=settings.sandbox_webhook_secret.get_secret_value()
            if settings.sandbox_webhook_secret else None,
            fingerprint_secret=settings.secret_key.get_secret_value(),
            processing_fee=ProcessingFee(Fraction(settings.processing_fee_rate),
                                         settings.processing_fee_fixed),
            base_url=settings.base_url,
            rate_limit=bucket_for(settings, sandbox_engine, "sandbox:limit",
                                  settings.sandbox_rate_limit, burst_seconds=0.2)
            if settings.sandbox_rate_limit else None,
            fault_rates=parse_fault_rates(settings.sandbox_faults))  # fmt: skip
        inner = sandbox
    fees = FeePolicy(
        settings.fee_rate_service, settings.fee_rate_goods, settings.processing_fee_bearer
    )
    hub: Hub = RedisHub(settings.redis_url) if settings.redis_url else InMemoryHub()
    limits: RateLimiter = (RedisRateLimiter(settings.redis_url, clock) if settings.redis_url
                           else InMemoryRateLimiter(clock))  # fmt: skip
    ctx = Context(settings=settings, clock=clock, engine=engine, sessions=sessions,
                  jobs=jobs_for(settings),
                  gateway=LoggedGateway(inner, log), gateway_log=log, sandbox=sandbox,
                  sandbox_engine=sandbox_engine, fees=fees,
                  idempotency=IdempotencyService(sessions, clock), hub=hub, limits=limits,
                  connections=Registry(hub, clock,
                                       offline_after=settings.offline_after_seconds))  # fmt: skip
    if sandbox is not None:
        sandbox.event_sink = _inbox(ctx)
    if settings.bench_counters:
        ctx.statements = StatementCount()
        for watched in dict.fromkeys([engine, sandbox_engine or engine]):
            ctx.statements.watch(watched)
    return ctx


def bucket_for(settings: Settings, engine: AsyncEngine, name: str, rate: float, *,
               burst_seconds: float) -> TokenBucket:  # fmt: skip
    """A rate in this process on SQLite (every job runs in it), shared by every process
    through PostgreSQL."""
    burst = max(1.0, rate * burst_seconds)
    if is_sqlite(settings.database_url):
        return LocalBucket(rate, burst=burst)
    return SharedBucket(engine, name, rate, burst=burst)


def jobs_for(settings: Settings) -> Jobs:
    """In this process on SQLite; procrastinate's queue on PostgreSQL."""
    if is_sqlite(settings.database_url):
        return InProcessJobs(concurrency=settings.worker_concurrency)
    return QueueJobs(settings.database_url, queue=settings.jobs_queue,
                     concurrency=settings.worker_concurrency)  # fmt: skip


def _inbox(ctx: Context) -> Any:
    """Sandbox events go through the same inbox as Stripe's webhooks."""

    async def deliver(payload: bytes, signature: str) -> None:
        async with ctx.unit_of_work() as services:
            await services.webhooks.receive(payload, signature)

    return deliver
