"""Configuration: pydantic-settings with the ``TSBOT_`` environment prefix, over YAML files.

Sources, highest priority first:

1. keyword arguments to :func:`load_settings` (tests, embedding);
2. environment variables ``TSBOT_<KEY>``; nested keys use ``__`` (``TSBOT_TRADING__BUY_THRESHOLD=0.2``);
3. the user's YAML files named by ``TSBOT_APP_CONFIG`` and ``TSBOT_TRADING_CONFIG``;
4. the defaults shipped in the package: ``tsbot/defaults/app.yaml`` and ``tsbot/defaults/trading.yaml``.

A wrong value raises :class:`tsbot.core.errors.ConfigError` whose message names the key (``trading.timeframe``),
the value given and the allowed values.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from tsbot.core.errors import ConfigError
from tsbot.market.models import Timeframe

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentWeights(_Strict):
    """Weights of the fused score's components; each >= 0. Renormalised over the components present."""

    technical: float = Field(0.7, ge=0)
    sentiment: float = Field(0.3, ge=0)
    ml: float = Field(0.3, ge=0)


class TechnicalWeights(_Strict):
    """Weights of the technical score's parts (RSI, EMA trend, MACD); each >= 0, not all zero."""

    rsi: float = Field(0.35, ge=0)
    trend: float = Field(0.35, ge=0)
    macd: float = Field(0.30, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> TechnicalWeights:
        if self.rsi + self.trend + self.macd <= 0:
            raise ValueError("at least one technical weight must be positive")
        return self


class SentimentConfig(_Strict):
    """Point-in-time news sentiment: decay half-life and maximum age in hours, evidence for full confidence."""

    half_life_hours: float = Field(12.0, gt=0)
    max_age_hours: float = Field(72.0, gt=0)
    full_evidence_headlines: int = Field(10, ge=1)
    #: Fewer headlines than this: the sentiment component still counts, with its confidence scaled down, and the
    #: signal's reasons say the evidence is thin.
    min_headlines: int = Field(3, ge=1)
    #: Weight of each source's headlines in the decay-weighted mean, by source name (case-insensitive); sources not
    #: named weigh ``default_source_weight``.
    source_weights: dict[str, float] = Field(default_factory=dict)
    default_source_weight: float = Field(1.0, gt=0)
    #: Headlines listed with each signal as "why sentiment moved" (largest weighted contribution first).
    top_headlines: int = Field(5, ge=0, le=50)

    @field_validator("source_weights")
    @classmethod
    def _non_negative(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in value.items() if not v >= 0}
        if bad:
            raise ValueError(f"source weights must be >= 0, got {bad}")
        return {k.lower(): float(v) for k, v in value.items()}


class TradingConfig(_Strict):
    """Signal settings (``trading.yaml``). See the comments in the shipped file for each key."""

    watchlist: list[str] = Field(default_factory=list)
    timeframe: Timeframe | None = None
    lookback_bars: int = Field(500, ge=50, le=10_000)
    buy_threshold: float = Field(0.15, gt=0, le=1)
    sell_threshold: float = Field(-0.15, ge=-1, lt=0)
    weights: ComponentWeights = Field(default_factory=ComponentWeights)
    technical_weights: TechnicalWeights = Field(default_factory=TechnicalWeights)
    rsi_oversold: float = Field(30, gt=0, lt=50)
    rsi_overbought: float = Field(70, gt=50, lt=100)
    stop_atr_multiple: float = Field(2.0, gt=0)
    take_profit_r: list[float] = Field(default_factory=lambda: [1.0, 2.0, 3.0], min_length=1)
    sentiment: SentimentConfig = Field(default_factory=SentimentConfig)

    @field_validator("take_profit_r")
    @classmethod
    def _increasing_positive(cls, value: list[float]) -> list[float]:
        if any(r <= 0 for r in value) or any(b <= a for a, b in zip(value, value[1:], strict=False)):
            raise ValueError("take-profit multiples must be positive and increasing, e.g. [1, 2, 3]")
        return value


class EnsembleWeights(_Strict):
    """Weights of the ML ensemble's members; each >= 0, not all zero. Renormalised to sum to 1."""

    random_forest: float = Field(0.4, ge=0)
    hist_gradient_boosting: float = Field(0.4, ge=0)
    xgboost: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _not_all_zero(self) -> EnsembleWeights:
        if self.random_forest + self.hist_gradient_boosting + self.xgboost <= 0:
            raise ValueError("at least one ensemble weight must be positive")
        return self


class MlConfig(_Strict):
    """The ML ensemble: labels, walk-forward training and model sizes (``ml`` in ``app.yaml``)."""

    #: Name under which trained models are registered (versions count up per name).
    model_name: str = Field("ensemble", min_length=1, max_length=64)
    #: ``forward``: the sign of the return over ``horizon_bars``, 0 inside the dead zone; ``triple_barrier``: which of
    #: take-profit / stop-loss barriers (``barrier_atr_multiple`` x ATR(14)) is touched first within the horizon.
    labeling: Literal["forward", "triple_barrier"] = "forward"
    horizon_bars: int = Field(24, ge=1, le=1_000)
    #: Forward returns with an absolute value below this ratio are labelled 0 (flat).
    dead_zone_ratio: float = Field(0.005, ge=0, le=0.5)
    barrier_atr_multiple: float = Field(2.0, gt=0)
    #: Walk-forward folds, and bars dropped after each test fold before later training data (embargo).
    folds: int = Field(5, ge=2, le=50)
    embargo_bars: int = Field(24, ge=0)
    weights: EnsembleWeights = Field(default_factory=EnsembleWeights)
    #: Trees of the random forest, boosting rounds of the two boosted models, and their depth.
    n_estimators: int = Field(150, ge=10, le=5_000)
    max_depth: int = Field(8, ge=2, le=32)
    learning_rate: float = Field(0.05, gt=0, le=1)
    random_state: int = 7


class LlmConfig(_Strict):
    """An OpenAI-compatible chat endpoint asked to read posts and commands the rules rate as unsure."""

    enabled: bool = False
    #: Base URL up to and including the version, e.g. ``http://127.0.0.1:8000/v1``; ``/chat/completions`` is added.
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout_s: float = Field(20.0, gt=0, le=300)
    #: Posts and commands whose rule-based confidence is below this go to the model.
    min_confidence: float = Field(0.6, ge=0, le=1)
    max_retries: int = Field(1, ge=0, le=5)


class WebhookConfig(_Strict):
    """Inbound webhooks (TradingView alerts)."""

    #: An alert whose body was already accepted within this many seconds is refused as a replay.
    replay_window_s: int = Field(300, ge=1, le=86_400)
    #: Alerts carrying a ``time`` older than this (or this far in the future) are refused.
    max_clock_skew_s: int = Field(300, ge=1, le=86_400)
    max_body_bytes: int = Field(65_536, ge=1_024, le=1_048_576)


class ProviderScoringConfig(_Strict):
    """Replaying a provider's signals over candles ("backtest this channel before you follow it")."""

    #: Equity risked per trade, as a ratio of equity (0.01 = 1 %) when following the provider.
    risk_per_trade_ratio: float = Field(0.01, gt=0, le=0.5)
    #: An entry not filled within this many hours after the post is counted as not filled.
    entry_expiry_hours: float = Field(48.0, gt=0)
    #: A filled trade still open after this many hours is closed at the bar's close.
    max_hold_hours: float = Field(24.0 * 14, gt=0)
    #: Taker fee per side as a ratio of notional (0.0004 = 0.04 %).
    fee_ratio: float = Field(0.0004, ge=0, le=0.01)


class IntakeConfig(_Strict):
    """Reading other people's signals: posts, webhooks, typed commands."""

    llm: LlmConfig = Field(default_factory=LlmConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    scoring: ProviderScoringConfig = Field(default_factory=ProviderScoringConfig)


class FeedConfig(_Strict):
    """One RSS or Atom feed: a display name (the headline's source) and its URL."""

    name: str = Field(min_length=1, max_length=128)
    url: str = Field(min_length=1)


class SubredditConfig(_Strict):
    """One subreddit and which listing to read (``hot`` or ``new``)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")
    listing: Literal["hot", "new"] = "new"


class RedditConfig(_Strict):
    """Reddit access: the public JSON listings, or the API through asyncpraw when credentials are configured."""

    enabled: bool = True
    #: Base URL of the JSON listings (``<base>/r/<name>/<listing>.json``); tests point it at a local server.
    base_url: str = "https://www.reddit.com"
    client_id: str | None = None
    client_secret: str | None = None
    user_agent: str = "tsbot/0.1 (news sentiment reader)"
    #: Posts read per subreddit and listing (Reddit allows at most 100 per request).
    limit: int = Field(50, ge=1, le=100)
    subreddits: list[SubredditConfig] = Field(default_factory=list)


class NewsConfig(_Strict):
    """News and social readers (``news`` in ``app.yaml``): feeds, subreddits, timeouts, de-duplication."""

    feeds: list[FeedConfig] = Field(default_factory=list)
    reddit: RedditConfig = Field(default_factory=RedditConfig)
    #: Per request; a slower source is skipped for this round and the others go on.
    timeout_s: float = Field(10.0, gt=0, le=120)
    #: Largest response body read from one source, in bytes; a larger one is refused.
    max_bytes: int = Field(5_000_000, ge=10_000, le=100_000_000)
    #: Sources read at the same time.
    concurrency: int = Field(8, ge=1, le=64)
    #: Two titles whose normalised word-shingle Jaccard similarity is at least this are the same story.
    near_duplicate_similarity: float = Field(0.85, gt=0, le=1)
    #: How often the monitoring cycle reads every source, in seconds.
    poll_interval_s: int = Field(60, ge=10, le=86_400)


class SentimentModelConfig(_Strict):
    """Which model scores headlines (``sentiment_model`` in ``app.yaml``).

    ``name``: ``default`` (shipped with tsbot, no download), ``finbert`` (``ProsusAI/finbert`` through transformers,
    needs the ``finbert`` extra and the hub once, or ``finbert_path``), or a path to a directory holding a model of
    either kind.
    """

    name: str = Field("default", min_length=1)
    #: A local directory with a FinBERT-style model (config, weights, tokenizer); used instead of the hub.
    finbert_path: Path | None = None
    #: int8 dynamic quantisation of the transformer's linear layers (faster on CPU, slightly less accurate).
    quantize: bool = False
    batch_size: int = Field(32, ge=1, le=1_024)
    #: Tokens per text read by a transformer model; longer texts are truncated.
    max_length: int = Field(128, ge=8, le=512)
    #: CPU threads of a transformer model (torch's intra-op threads); null leaves torch's default (all cores).
    threads: int | None = Field(None, ge=1, le=256)


class SecurityConfig(_Strict):
    """Secrets at rest. ``encryption_keys``: Fernet keys (urlsafe base64 of 32 bytes) encrypting users' exchange
    keys, newest first; the newest encrypts, all decrypt (:mod:`tsbot.adapters.secrets`). In the environment a JSON
    list: ``TSBOT_SECURITY__ENCRYPTION_KEYS='["<new key>", "<old key>"]'``. A single string is a list of one key
    (rather than an error message quoting it). ``SecretStr``: no ``repr`` or ``str`` of the settings shows them."""

    encryption_keys: list[SecretStr] = Field(default_factory=list)
    #: Signs the API's access tokens (HS256). Empty: a random secret is made once and kept in
    #: ``<data_dir>/jwt.secret`` (one machine); set it when several API processes share a database.
    jwt_secret: SecretStr | None = None

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _one_key_is_a_list_of_one(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | SecretStr) else value


class ApiConfig(_Strict):
    """The platform API (``api`` in ``app.yaml``): browser origins, rate limits and request limits."""

    #: Origins allowed by CORS (``https://app.example.com``); empty: no cross-origin browser calls.
    cors_origins: list[str] = Field(default_factory=list)
    #: Requests per user (or per IP before login) per hour.
    requests_per_hour: int = Field(1_000, ge=1, le=10_000_000)
    #: Orders placed per user per hour.
    orders_per_hour: int = Field(100, ge=1, le=1_000_000)
    #: Pages of stored signals (``GET /api/v1/signals``, ``/latest``, ``/history``) each API process keeps, served
    #: while no signal changed (exact: checked against the stored signals' revision on every request); 0 turns the
    #: cache off.
    page_cache_entries: int = Field(256, ge=0, le=100_000)
    #: Largest request body read, in bytes; a larger one is answered 413.
    max_body_bytes: int = Field(1_048_576, ge=1_024, le=104_857_600)
    #: Where users reach tsbot; links in emails (verification, password reset) start with it.
    public_url: str = Field("http://127.0.0.1:8000", min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65_535)


class AccountsConfig(_Strict):
    """Users, sign-in and tokens (``accounts`` in ``app.yaml``)."""

    access_token_minutes: int = Field(30, ge=1, le=1_440)
    refresh_token_days: int = Field(7, ge=1, le=365)
    #: Failed logins allowed per account and per IP within ``login_window_minutes`` before further tries are refused.
    login_max_failures: int = Field(5, ge=1, le=1_000)
    login_window_minutes: int = Field(15, ge=1, le=1_440)
    #: A new account must confirm its email address (a token sent by email) before it can sign in.
    require_email_verification: bool = True
    email_token_hours: int = Field(24, ge=1, le=720)
    password_reset_minutes: int = Field(60, ge=5, le=1_440)
    #: Shown by authenticator apps beside the account (TOTP two-factor).
    totp_issuer: str = Field("tsbot", min_length=1, max_length=64)
    #: Days a new account stays active before an admin must extend it; null: no expiry.
    activation_days: int | None = Field(None, ge=1, le=36_500)
    #: Seconds an API process reuses a checked access token or API key before reading the account again; 0: read it
    #: on every request. A sign-out, deactivation or revocation takes effect at once in the process that made it and
    #: within this time in the others.
    identity_cache_seconds: float = Field(5.0, ge=0, le=60)


class EmailConfig(_Strict):
    """Outgoing email over SMTP (``email`` in ``app.yaml``): verification, password reset, notifications.
    ``host`` empty: email is off (what would be sent is refused with a clear error)."""

    host: str = ""
    port: int = Field(25, ge=1, le=65_535)
    sender: str = Field("tsbot@localhost", min_length=3)
    username: str | None = None
    password: SecretStr | None = None
    #: ``starttls``: upgrade a plain connection; ``tls``: TLS from the start (port 465); ``none``: plain.
    security: Literal["none", "starttls", "tls"] = "none"
    timeout_s: float = Field(10.0, gt=0, le=120)


class TelegramConfig(_Strict):
    """The Telegram bot: ``bot_token`` from BotFather (set it in the environment, ``TSBOT_TELEGRAM__BOT_TOKEN``; none:
    no bot, Telegram notifications and account linking answer "not configured"), ``bot_username`` without ``@``
    (for ``https://t.me/<username>?start=<code>`` links), and the Bot API's base URL (another one for a local Bot API
    server or tests)."""

    bot_token: SecretStr | None = None
    bot_username: str | None = Field(None, pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
    api_base_url: str = Field("https://api.telegram.org", pattern=r"^https?://\S+$")
    #: How the bot gets its updates: ``polling`` (it asks Telegram, ``getUpdates``) or ``webhook`` (Telegram posts
    #: them to the API's ``POST /api/v1/telegram/webhook``, which checks ``webhook_secret``).
    mode: Literal["polling", "webhook"] = "polling"
    #: The public https address of that webhook route, registered with Telegram (``setWebhook``) when the bot
    #: starts in webhook mode; None: register it yourself.
    webhook_url: str | None = Field(None, pattern=r"^https://\S+$")
    #: Telegram's ``secret_token`` (1-256 of ``A-Za-z0-9_-``): sent by Telegram in the header
    #: ``X-Telegram-Bot-Api-Secret-Token`` of every webhook call; needed in webhook mode.
    webhook_secret: SecretStr | None = None
    #: Provider channels whose posts the bot reads as signals: channel (``@username`` or its numeric chat id,
    #: ``-100...``) -> provider name under which the signals are tracked. The bot must be a member of the channel.
    followed_channels: dict[str, str] = Field(default_factory=dict)
    #: Seconds a Confirm button of an order (and of /stop) works after the bot offered it.
    confirm_seconds: int = Field(300, ge=30, le=3_600)

    @field_validator("webhook_secret")
    @classmethod
    def _valid_secret(cls, value: SecretStr | None) -> SecretStr | None:
        secret = "x" if value is None else value.get_secret_value()
        if not (0 < len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)):
            raise ValueError("webhook_secret must be 1-256 of A-Z, a-z, 0-9, _ and - (Telegram's rule)")
        return value

    @field_validator("followed_channels")
    @classmethod
    def _valid_channels(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for channel, provider in value.items():
            key = channel.strip().lower()
            handle, number = key.removeprefix("@"), key.removeprefix("-")
            is_name = key.startswith("@") and 5 <= len(handle) <= 32 and handle[0].isalpha()
            is_name = is_name and all(c.isascii() and (c.isalnum() or c == "_") for c in handle)
            is_id = number.isascii() and number.isdigit() and len(number) <= 20
            if not (is_name or is_id):
                raise ValueError(f"channel {channel!r} must be @username or a numeric chat id (-100...)")
            name = provider.strip()
            if not 0 < len(name) <= 128 or not name.isprintable():
                raise ValueError(f"provider name of {channel!r} must be 1-128 printable characters")
            out[key] = name
        return out


class MonitorConfig(_Strict):
    """The monitoring cycle (``monitor`` in ``app.yaml``): how often it runs, how often the configuration files are
    re-read, how long the cycle waits for its per-symbol jobs on Dramatiq workers, whether it fetches new candles
    from the exchanges on the live clock (``fetch_candles``), how often it reads the news sources
    (``news_interval_s``; 0: never), how often each live exchange account is reconciled with its venue
    (``reconcile_interval_s``; 0: every cycle), and the live brokers' per-request timeout and retries of a temporary
    failure (``broker_timeout_s``, ``broker_retries``)."""

    interval_s: float = Field(60.0, ge=1, le=86_400)
    reload_config_s: float = Field(60.0, ge=1, le=86_400)
    job_timeout_s: float = Field(120.0, gt=0, le=3_600)
    fetch_candles: bool = True
    news_interval_s: float = Field(300.0, ge=0, le=86_400)
    reconcile_interval_s: float = Field(60.0, ge=0, le=86_400)
    broker_timeout_s: float = Field(10.0, gt=0, le=120)
    broker_retries: int = Field(1, ge=0, le=10)


class NotifyConfig(_Strict):
    """Notification delivery (``notify`` in ``app.yaml``): retries with exponential backoff (``backoff_s`` doubled on
    each failed attempt, at most ``max_backoff_s``) up to ``max_attempts``; a claimed delivery is retried by another
    worker after ``lease_s``; ``slack_webhook_url`` is the operator's default Slack incoming webhook (a shared
    channel: users' notifications go there only when they switch Slack on); a user's own Slack webhook URL (their
    preference ``slack_webhook_url``) is used only when it starts with one of ``slack_user_url_prefixes`` (empty
    list: never). One dispatch takes at most ``batch_size`` deliveries, ``concurrency`` at a time; each channel
    call may take ``timeout_s`` seconds (Slack; email and Telegram use their own sections' timeouts)."""

    max_attempts: int = Field(8, ge=1, le=100)
    backoff_s: float = Field(30.0, gt=0, le=86_400)
    max_backoff_s: float = Field(3_600.0, gt=0, le=604_800)
    lease_s: float = Field(60.0, gt=0, le=3_600)
    batch_size: int = Field(100, ge=1, le=10_000)
    slack_webhook_url: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0, le=120)
    slack_user_url_prefixes: list[str] = Field(default_factory=lambda: ["https://hooks.slack.com/"])
    concurrency: int = Field(8, ge=1, le=100)


class Settings(BaseSettings):
    """All of tsbot's settings (``app.yaml`` keys at the top level, ``trading.yaml`` under ``trading``)."""

    model_config = SettingsConfigDict(
        env_prefix="TSBOT_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    database_url: str = ""
    #: PostgreSQL connections each process keeps open, and how many more it may open while busy.
    database_pool_size: int = Field(20, ge=1, le=1_000)
    database_max_overflow: int = Field(10, ge=0, le=1_000)
    #: ``redis://host:6379/0``: cache and rate limits shared between processes; empty: in-process.
    redis_url: str = ""
    #: ``amqp://guest:guest@host:5672/`` (RabbitMQ) or ``redis://...``: jobs go to Dramatiq workers; empty: in-process.
    broker_url: str = ""
    data_dir: Path = Path("var")
    log_level: LogLevel = "INFO"
    http_timeout_s: float = Field(10.0, gt=0, le=300)
    download_retries: int = Field(5, ge=0, le=20)
    exchange_base_urls: dict[str, str] = Field(default_factory=dict)
    alpaca_api_key: str | None = None
    alpaca_secret_key: str | None = None
    alpaca_data_url: str | None = None
    trading: TradingConfig = Field(default_factory=TradingConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    ml: MlConfig = Field(default_factory=MlConfig)
    news: NewsConfig = Field(default_factory=NewsConfig)
    sentiment_model: SentimentModelConfig = Field(default_factory=SentimentModelConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    accounts: AccountsConfig = Field(default_factory=AccountsConfig)
    email: EmailConfig = Field(default_factory=EmailConfig)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    @property
    def effective_database_url(self) -> str:
        """The database URL in use: ``database_url``, or a SQLite file ``<data_dir>/tsbot.sqlite``."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tsbot.sqlite').as_posix()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFilesSource(settings_cls))


def read_yaml(path: Path | None = None, *, default_resource: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping from ``path`` or from a file shipped in ``tsbot/defaults``.

    Raises:
        ConfigError: the file is missing, is not valid YAML (the message gives the line), or is not a mapping.
    """
    if path is not None:
        name = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {name}: {exc.strerror}") from exc
    else:
        assert default_resource is not None
        name = f"tsbot/defaults/{default_resource}"
        text = resources.files("tsbot.defaults").joinpath(default_resource).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"configuration file {name} is not valid YAML{where}: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {name} must hold a mapping of keys, not {type(data).__name__}")
    return data


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _YamlFilesSource(PydanticBaseSettingsSource):
    """The shipped defaults, overlaid with the user's files from TSBOT_APP_CONFIG / TSBOT_TRADING_CONFIG."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        app = read_yaml(default_resource="app.yaml")
        trading = read_yaml(default_resource="trading.yaml")
        if user_app := os.environ.get("TSBOT_APP_CONFIG"):
            app = _deep_merge(app, read_yaml(Path(user_app)))
        if user_trading := os.environ.get("TSBOT_TRADING_CONFIG"):
            trading = _deep_merge(trading, read_yaml(Path(user_trading)))
        if app.get("database_url") in (None, ""):
            app.pop("database_url", None)
        return _deep_merge(app, {"trading": trading})


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error.get("loc", ()))
    given = error.get("input")
    message = error.get("msg", "invalid value")
    if error.get("type") == "extra_forbidden":
        return f"{key}: unknown key (check its spelling against the shipped app.yaml / trading.yaml)"
    if key.startswith("security") or key == "email.password":
        return f"{key}: {message} (value hidden: it may hold a secret)"
    return f"{key}: {message} (got {given!r})"


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from all sources (see the module docstring).

    Raises:
        ConfigError: a value is invalid (the message names each wrong key, the value and what is allowed), or a
            YAML file is unreadable or malformed.
    """
    try:
        return Settings(**overrides)
    except (
        SettingsError
    ) as exc:  # an environment value that is not the JSON its setting needs; names the field only
        raise ConfigError(f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        lines = "; ".join(_describe(e) for e in exc.errors(include_url=False))
        raise ConfigError(f"invalid configuration: {lines}") from None
