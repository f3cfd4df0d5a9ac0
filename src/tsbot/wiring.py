"""The one place that names concrete adapters: :func:`open_services` builds tsbot's services from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from tsbot.accounts.service import AccountService
from tsbot.adapters.account_secrets import jwt_secret_from_settings, secret_box_from_settings
from tsbot.adapters.email.smtp import SmtpMailer
from tsbot.adapters.events import EventPublisher
from tsbot.adapters.llm.openai_chat import build_chat_model
from tsbot.adapters.notifiers import notifiers_from_settings
from tsbot.adapters.secrets import vault_from_settings
from tsbot.adapters.storage.account_events import SqlAccountEventLog
from tsbot.adapters.storage.account_tokens import SqlApiKeyStore, SqlTokenStore
from tsbot.adapters.storage.accounts import SqlUserStore
from tsbot.adapters.storage.bots import SqlBotStore
from tsbot.adapters.storage.candles import SqlCandleStore
from tsbot.adapters.storage.database import create_engine, upgrade
from tsbot.adapters.storage.exchange_keys import SqlExchangeKeyStore
from tsbot.adapters.storage.headlines import SqlHeadlineStore
from tsbot.adapters.storage.ml_models import SqlModelRegistry
from tsbot.adapters.storage.notification_outbox import SqlOutboxStore
from tsbot.adapters.storage.notify_recipients import SqlRecipientDirectory
from tsbot.adapters.storage.orders import SqlOrderStore
from tsbot.adapters.storage.paper_ledger import SqlPaperLedger
from tsbot.adapters.storage.portfolios import SqlPortfolioStore
from tsbot.adapters.storage.signals import SqlSignalStore
from tsbot.adapters.storage.tracked_signals import SqlTrackedSignalStore
from tsbot.config import Settings
from tsbot.core.enums import AssetClass
from tsbot.core.time import utc_now
from tsbot.intake.fallback import FallbackPostParser, LlmPostReader
from tsbot.intake.posts import parse as parse_post
from tsbot.market.ports import MarketDataSource
from tsbot.ml.scoring import ActiveModelSource, MlScorer
from tsbot.notify.service import NotificationService
from tsbot.signals.service import ScanService
from tsbot.trading.market_hours import MarketHours

#: Exchange id of the US-stock source.
ALPACA = "alpaca"
#: The ``exchange_calendars`` code of US stock hours (NYSE; NASDAQ listings keep the same hours and holidays).
STOCK_CALENDAR = "XNYS"


@dataclass(slots=True)
class Services:
    """tsbot's services over one database. Create with :func:`open_services`.

    ``clock`` is the current time (UTC) of what people do by hand, such as the market-hours check of a paper order:
    the wall clock, or the replay clock under ``tsbot serve --replay``.
    """

    settings: Settings
    db: AsyncEngine
    candles: SqlCandleStore
    headlines: SqlHeadlineStore
    signals: SqlSignalStore
    tracked_signals: SqlTrackedSignalStore
    models: SqlModelRegistry
    orders: SqlOrderStore
    portfolios: SqlPortfolioStore
    bots: SqlBotStore
    ml_source: ActiveModelSource | None = None
    clock: Callable[[], datetime] = utc_now
    stock_hours_built: MarketHours | None = None

    async def active_model(self) -> MlScorer | None:
        """The active ML model named ``settings.ml.model_name`` as a scorer, or None when none is active.

        Raises:
            tsbot.core.errors.DataError: the stored model cannot be read (retrain with ``tsbot train``).
        """
        if self.ml_source is None:
            self.ml_source = ActiveModelSource(self.models, self.settings.ml.model_name)
        return await self.ml_source.scorer()

    def stock_hours(self) -> MarketHours:
        """The regular sessions of US stocks (NYSE calendar, holidays and early closes included, two years either
        side of today), built on first use (about 0.1 s) and kept."""
        if self.stock_hours_built is None:
            self.stock_hours_built = MarketHours(STOCK_CALENDAR)
        return self.stock_hours_built

    def paper_ledger(self) -> SqlPaperLedger:
        """Deposits into and withdrawals from paper accounts."""
        return SqlPaperLedger(self.db)

    def exchange_keys(self) -> SqlExchangeKeyStore:
        """Users' exchange keys, encrypted with ``settings.security.encryption_keys``.

        Raises:
            tsbot.core.errors.ConfigError: no encryption key is configured (the message says how to set one).
        """
        return SqlExchangeKeyStore(self.db, vault_from_settings(self.settings))

    def accounts(self) -> AccountService:
        """The account service over this database: SMTP email from ``settings.email``, TOTP secrets encrypted with
        ``settings.security.encryption_keys`` (none: two-factor setup is refused with a message saying how to set
        one), access tokens signed with ``security.jwt_secret`` or the secret generated once into
        ``<data_dir>/jwt.secret`` (mode 0600).

        Raises:
            tsbot.core.errors.ConfigError: the JWT secret is too short or its file unreadable, or an encryption key
                is invalid.
        """
        return AccountService(
            users=SqlUserStore(self.db),
            tokens=SqlTokenStore(self.db),
            api_keys=SqlApiKeyStore(self.db),
            events=SqlAccountEventLog(self.db),
            mailer=SmtpMailer(self.settings.email),
            config=self.settings.accounts,
            jwt_secret=jwt_secret_from_settings(self.settings),
            public_url=self.settings.api.public_url,
            secret_box=secret_box_from_settings(self.settings),
        )

    def notifications(self, events: EventPublisher | None = None) -> NotificationService:
        """The notification outbox over this database, sending through the channels of the settings (``email``,
        ``telegram``, ``notify``; see :func:`tsbot.adapters.notifiers.notifiers_from_settings`); in-app notifications
        are published on ``events`` when given.

        Raises:
            tsbot.core.errors.ConfigError: the Telegram bot token is malformed or its API URL is not http(s).
        """
        return NotificationService(
            SqlOutboxStore(self.db),
            SqlRecipientDirectory(
                self.db, require_verified_email=self.settings.accounts.require_email_verification
            ),
            notifiers_from_settings(self.settings, events),
            self.settings.notify,
        )

    def scan_service(self) -> ScanService:
        """A :class:`ScanService` over these stores and the settings' trading configuration, scoring with the
        active model named ``settings.ml.model_name`` (loaded once per :class:`Services`; none: no ML score)."""
        if self.ml_source is None:
            self.ml_source = ActiveModelSource(self.models, self.settings.ml.model_name)
        return ScanService(
            self.candles, self.headlines, self.signals, self.settings.trading, ml=self.ml_source
        )


@asynccontextmanager
async def open_services(settings: Settings, *, migrate: bool = True) -> AsyncIterator[Services]:
    """Connect to the configured database (migrating it to the newest schema unless ``migrate`` is False), yield
    the services, and dispose of the connections on exit.

    Raises:
        tsbot.core.errors.ConfigError: the database URL is invalid.
        tsbot.core.errors.TemporaryError: the database cannot be reached.
    """
    db = create_engine(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    try:
        if migrate:
            await upgrade(db)
        yield Services(
            settings=settings,
            db=db,
            candles=SqlCandleStore(db),
            headlines=SqlHeadlineStore(db, model_name=settings.sentiment_model.name),
            signals=SqlSignalStore(db),
            tracked_signals=SqlTrackedSignalStore(db),
            models=SqlModelRegistry(db),
            orders=SqlOrderStore(db),
            portfolios=SqlPortfolioStore(db),
            bots=SqlBotStore(db),
        )
    finally:
        await db.dispose()


def build_source(exchange: str, settings: Settings) -> tuple[MarketDataSource, AssetClass]:
    """The market-data source for ``exchange`` and the asset class of its series.

    ``"alpaca"`` gives an :class:`AlpacaSource` (stocks) from ``settings.alpaca_api_key``,
    ``alpaca_secret_key`` and ``alpaca_data_url``; any other id a :class:`CcxtSource` (crypto) whose API host
    is ``settings.exchange_base_urls[exchange]`` when set. Both use ``settings.http_timeout_s``.

    Raises:
        ConfigError: unknown exchange id, or missing Alpaca keys.
    """
    # ccxt and alpaca-py take seconds to import: only commands that download pay for them.
    from tsbot.adapters.exchanges.alpaca_source import AlpacaSource
    from tsbot.adapters.exchanges.ccxt_source import CcxtSource

    exchange_id = exchange.strip().lower()
    timeout_s = float(settings.http_timeout_s)
    if exchange_id == ALPACA:
        source: MarketDataSource = AlpacaSource(
            settings.alpaca_api_key,
            settings.alpaca_secret_key,
            data_url=settings.alpaca_data_url,
            timeout_s=timeout_s,
        )
        return source, AssetClass.STOCK
    base_urls = getattr(settings, "exchange_base_urls", None) or {}
    return CcxtSource(
        exchange_id, base_url=base_urls.get(exchange_id), timeout_s=timeout_s
    ), AssetClass.CRYPTO


def build_post_parser(settings: Settings, *, use_llm: bool = True) -> FallbackPostParser:
    """The signal-post reader: the rule parser, with the language-model fallback of ``settings.intake.llm``
    when it is enabled (and ``use_llm``) for posts the rules rate below ``min_confidence``."""
    model = build_chat_model(settings) if use_llm else None
    return FallbackPostParser(
        parse_post,
        LlmPostReader(model) if model is not None else None,
        settings.intake.llm.min_confidence,
    )
