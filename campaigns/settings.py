"""The one settings object, read from the environment in one place.

Nothing here runs at import time: entry points call ``Settings.from_env()`` once
per process (the CLI's callback, Celery's ``worker_process_init``, the web app's
lifespan) and pass the object down.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Mapping


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None


def _max_rows(env: Mapping[str, str], default: int) -> int:
    from campaigns.store.keys import ROW_LIMIT  # row numbers are part of recipient ids

    value = _int(env, "CAMPAIGNS_MAX_ROWS", default)
    if not 1 <= value < ROW_LIMIT - 1:
        raise SettingsError(f"CAMPAIGNS_MAX_ROWS must be between 1 and {ROW_LIMIT - 2:,}, got {value:,}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")


def _words(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of words (an empty setting keeps the default)."""
    raw = env.get(name, "")
    if not raw.strip():
        return default
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    # storage and queues
    database_url: str = "sqlite:///./campaigns.db"
    broker_url: str | None = None  # None: the embedded default runs tasks in-process
    redis_url: str | None = None  # locks and pacing; defaults to the broker's Redis
    data_dir: str = "./data"  # the HTTP service's spool of uploads (CAMPAIGNS_DATA_DIR)
    # timing (issue 4): the fastest poll interval; slower ones scale from it
    poll_seconds: float = 10.0
    stall_seconds: float = 300.0
    # ingestion limits (issue 2)
    chunk_size: int = 500
    max_file_bytes: int = 200 * 1024 * 1024
    max_rows: int = 2_000_000
    max_inflate_ratio: int = 100  # XLSX parts inflating beyond this ratio are refused (zip bomb)
    max_inflated_bytes: int = 1024 * 1024 * 1024
    # files at least this large have their phones checked by a helper process (0: never)
    check_helper_bytes: int = 4 * 1024 * 1024
    # pipeline (issue 4)
    pause_after_permanent_failures: float = 0.5  # share of a campaign's recipients
    max_transport_retries: int = 8
    retry_base_seconds: float = 2.0  # exponential backoff with full jitter: base * 2**n, capped
    retry_cap_seconds: float = 300.0
    # Mobizon (issue 3)
    mobizon_api_key: str | None = field(default=None, repr=False)
    mobizon_api_url: str = "https://api.mobizon.kz"
    http_timeout: float = 30.0
    http_connect_timeout: float = 10.0
    # sandbox provider: the project's own Mobizon simulator
    sandbox_url: str | None = None  # None: started in-process on a free port
    # SMSC (issue 5)
    smsc_login: str | None = None
    smsc_password: str | None = field(default=None, repr=False)
    smsc_api_key: str | None = field(default=None, repr=False)
    smsc_api_url: str = "https://smsc.kz"
    smsc_rate_limit: int = 600
    smsc_rate_period: int = 60
    # the cascade gateway (issue 15, seed 001): Viber, VK and SMS in the campaign's order
    cascade_api_url: str | None = None  # scheme and host: every brand has its own
    cascade_login: str | None = None
    cascade_password: str | None = field(default=None, repr=False)
    cascade_token: str | None = field(default=None, repr=False)
    cascade_protocol: str = "json"  # json | get | xml
    cascade_rate_limit: int = 600
    cascade_rate_period: int = 60
    cascade_repeat_seconds: float = 60.0  # identical requests at most once a minute (seed 001)
    # the watched bucket (issue 12): folders and S3 prefixes whose dropped files become campaigns
    watch: tuple[str, ...] = ()  # file:///srv/inbox, s3://bucket/prefix/ (CAMPAIGNS_WATCH, comma-separated)
    watch_seconds: float = 15.0  # between two scans
    watch_settle_seconds: float = 5.0  # a local file unchanged this long is complete
    watch_repeat_days: float = 30.0  # the same content again within this is refused as a repeat
    watch_orphan_seconds: float = 900.0  # a manifest whose file has not come after this is rejected
    # the dashboard and metrics (issue 14)
    session_hours: float = 12.0  # a dashboard sign-in lasts this long
    secure_cookies: bool = False  # force Secure on the session cookie (else: when the request is https)
    metrics_token: str | None = field(default=None, repr=False)  # None: /metrics is open
    worker_metrics_port: int = 0  # a Celery worker serves /metrics on this port (0: none)
    # schedules (issue 13): the key that encrypts source headers at rest (--source-header)
    secret_key: str | None = field(default=None, repr=False)
    # a test aid only: the schedules' clock runs ``schedule_clock_speed`` times faster
    # than real time from the Unix time ``schedule_clock_epoch`` (0: the real clock)
    schedule_clock_speed: float = 0.0
    schedule_clock_epoch: float = 0.0
    # delivery callbacks, incoming messages and opt-outs (issue 11)
    smsc_callback_secret: str | None = field(default=None, repr=False)
    smsc_callback_insecure: bool = False  # accept unsigned SMSC callbacks (no secret set)
    mobizon_webhook_secret: str | None = field(default=None, repr=False)
    mobizon_webhook_insecure: bool = False
    stop_words: tuple[str, ...] = ("STOP", "СТОП", "STOPALL", "UNSUBSCRIBE", "ОТПИСАТЬСЯ", "0")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Read every setting from ``env`` (default ``os.environ``).

        Raises SettingsError for a value that cannot be parsed.
        """
        env = os.environ if env is None else env
        d = cls()
        broker = env.get("CAMPAIGNS_BROKER_URL") or None
        return cls(
            database_url=env.get("CAMPAIGNS_DATABASE_URL") or d.database_url,
            broker_url=broker,
            redis_url=env.get("CAMPAIGNS_REDIS_URL") or broker,
            data_dir=env.get("CAMPAIGNS_DATA_DIR") or d.data_dir,
            poll_seconds=_float(env, "CAMPAIGNS_POLL_SECONDS", d.poll_seconds),
            stall_seconds=_float(env, "CAMPAIGNS_STALL_SECONDS", d.stall_seconds),
            chunk_size=_int(env, "CAMPAIGNS_CHUNK_SIZE", d.chunk_size),
            max_file_bytes=_int(env, "CAMPAIGNS_MAX_FILE_BYTES", d.max_file_bytes),
            max_rows=_max_rows(env, d.max_rows),
            max_inflate_ratio=_int(env, "CAMPAIGNS_MAX_INFLATE_RATIO", d.max_inflate_ratio),
            max_inflated_bytes=_int(env, "CAMPAIGNS_MAX_INFLATED_BYTES", d.max_inflated_bytes),
            check_helper_bytes=_int(env, "CAMPAIGNS_CHECK_HELPER_BYTES", d.check_helper_bytes),
            pause_after_permanent_failures=_float(
                env, "CAMPAIGNS_PAUSE_AFTER_FAILURES", d.pause_after_permanent_failures
            ),
            max_transport_retries=_int(env, "CAMPAIGNS_MAX_RETRIES", d.max_transport_retries),
            retry_base_seconds=_float(env, "CAMPAIGNS_RETRY_BASE_SECONDS", d.retry_base_seconds),
            retry_cap_seconds=_float(env, "CAMPAIGNS_RETRY_CAP_SECONDS", d.retry_cap_seconds),
            mobizon_api_key=env.get("MOBIZON_API_KEY") or None,
            mobizon_api_url=(env.get("MOBIZON_API_URL") or d.mobizon_api_url).rstrip("/"),
            http_timeout=_float(env, "CAMPAIGNS_HTTP_TIMEOUT", d.http_timeout),
            http_connect_timeout=_float(env, "CAMPAIGNS_HTTP_CONNECT_TIMEOUT", d.http_connect_timeout),
            sandbox_url=env.get("CAMPAIGNS_SANDBOX_URL") or None,
            smsc_login=env.get("SMSC_LOGIN") or None,
            smsc_password=env.get("SMSC_PASSWORD") or None,
            smsc_api_key=env.get("SMSC_API_KEY") or None,
            smsc_api_url=(env.get("SMSC_API_URL") or d.smsc_api_url).rstrip("/"),
            smsc_rate_limit=_int(env, "SMSC_RATE_LIMIT", d.smsc_rate_limit),
            smsc_rate_period=_int(env, "SMSC_RATE_PERIOD", d.smsc_rate_period),
            cascade_api_url=(env.get("CASCADE_API_URL") or "").rstrip("/") or None,
            cascade_login=env.get("CASCADE_LOGIN") or None,
            cascade_password=env.get("CASCADE_PASSWORD") or None,
            cascade_token=env.get("CASCADE_TOKEN") or None,
            cascade_protocol=_choice(env, "CASCADE_PROTOCOL", ("json", "get", "xml"), d.cascade_protocol),
            cascade_rate_limit=_int(env, "CASCADE_RATE_LIMIT", d.cascade_rate_limit),
            cascade_rate_period=_int(env, "CASCADE_RATE_PERIOD", d.cascade_rate_period),
            cascade_repeat_seconds=_float(env, "CASCADE_REPEAT_SECONDS", d.cascade_repeat_seconds),
            watch=tuple(w.strip() for w in env.get("CAMPAIGNS_WATCH", "").split(",") if w.strip()),
            watch_seconds=_float(env, "CAMPAIGNS_WATCH_SECONDS", d.watch_seconds),
            watch_settle_seconds=_float(env, "CAMPAIGNS_WATCH_SETTLE_SECONDS", d.watch_settle_seconds),
            watch_repeat_days=_float(env, "CAMPAIGNS_WATCH_REPEAT_DAYS", d.watch_repeat_days),
            watch_orphan_seconds=_float(env, "CAMPAIGNS_WATCH_ORPHAN_SECONDS", d.watch_orphan_seconds),
            session_hours=_float(env, "CAMPAIGNS_SESSION_HOURS", d.session_hours),
            secure_cookies=_flag(env, "CAMPAIGNS_SECURE_COOKIES"),
            metrics_token=env.get("CAMPAIGNS_METRICS_TOKEN") or None,
            worker_metrics_port=_int(env, "CAMPAIGNS_WORKER_METRICS_PORT", d.worker_metrics_port),
            secret_key=env.get("CAMPAIGNS_SECRET_KEY") or None,
            schedule_clock_speed=_float(env, "CAMPAIGNS_SCHEDULE_CLOCK_SPEED", d.schedule_clock_speed),
            schedule_clock_epoch=_float(env, "CAMPAIGNS_SCHEDULE_CLOCK_EPOCH", d.schedule_clock_epoch),
            smsc_callback_secret=env.get("SMSC_CALLBACK_SECRET") or None,
            smsc_callback_insecure=_flag(env, "SMSC_CALLBACK_INSECURE"),
            mobizon_webhook_secret=env.get("MOBIZON_WEBHOOK_SECRET") or None,
            mobizon_webhook_insecure=_flag(env, "MOBIZON_WEBHOOK_INSECURE"),
            stop_words=_words(env, "CAMPAIGNS_STOP_WORDS", d.stop_words),
        )

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed (tests, CLI options)."""
        return replace(self, **changes)

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: tasks run inside the calling process."""
        return self.broker_url is None


SECRET_FIELDS = frozenset(f.name for f in fields(Settings) if not f.repr)
