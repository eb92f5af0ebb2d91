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
        )

    def with_(self, **changes) -> "Settings":
        """A copy with some settings changed (tests, CLI options)."""
        return replace(self, **changes)

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: tasks run inside the calling process."""
        return self.broker_url is None


SECRET_FIELDS = frozenset(f.name for f in fields(Settings) if not f.repr)
