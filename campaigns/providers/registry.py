"""Providers by name: the one place that turns a campaign's ``provider`` into an object.

Each provider owns an HTTP client; whoever calls ``make_provider`` closes it
(``provider.close()``) when the process ends.
"""

from __future__ import annotations

from typing import Callable

from campaigns.providers.port import Provider
from campaigns.settings import Settings, SettingsError


def _shared_backoff(provider, settings: Settings, *account: str | None) -> Provider:
    """``provider`` whose code 30 backs off the method for every worker (issue 5)."""
    from campaigns.pacing import account_key, make_limiter
    from campaigns.pacing.backoff import SharedBackoff

    return SharedBackoff(provider, make_limiter(settings), account_key(*account), owns_limiter=True)


def _mobizon(settings: Settings) -> Provider:
    from campaigns.providers.mobizon.adapter import mobizon_provider_from_settings

    return _shared_backoff(mobizon_provider_from_settings(settings), settings, settings.mobizon_api_key)


def _smsc(settings: Settings) -> Provider:
    from campaigns.providers.smsc.adapter import smsc_provider_from_settings

    return smsc_provider_from_settings(settings)


def _sandbox(settings: Settings) -> Provider:
    from campaigns.providers.mobizon.adapter import mobizon_provider_from_settings

    if not settings.sandbox_url:
        raise SettingsError(
            "the sandbox provider needs CAMPAIGNS_SANDBOX_URL (a running `campaigns simulate`); "
            "the embedded mode starts one itself"
        )
    # The sandbox is the project's own Mobizon simulator: the same client, another URL.
    provider = mobizon_provider_from_settings(settings, api_url=settings.sandbox_url, name="sandbox")
    return _shared_backoff(provider, settings, "sandbox", settings.sandbox_url)


def _cascade(settings: Settings) -> Provider:
    from campaigns.providers.cascade.adapter import cascade_provider_from_settings

    return cascade_provider_from_settings(settings)


FACTORIES: dict[str, Callable[[Settings], Provider]] = {
    "cascade": _cascade,
    "mobizon": _mobizon,
    "sandbox": _sandbox,
    "smsc": _smsc,
}


def known_providers() -> list[str]:
    return sorted(FACTORIES)


def make_provider(name: str, settings: Settings) -> Provider:
    """The provider called ``name`` configured from ``settings``. Raises ValueError for an
    unknown name (listing the known ones) and SettingsError (a ValueError) when its
    settings are missing (an API key, the sandbox URL)."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise ValueError(f"unknown provider {name!r}; known: {', '.join(known_providers())}")
    return factory(settings)
