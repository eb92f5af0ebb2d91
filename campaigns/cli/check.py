"""``campaigns check --provider mobizon|sandbox|smsc|cascade``: does the account answer?

One cheap read call (Campaign/List, one item a page) with the configured key and domain,
and one line: ``ok: …`` (exit 0), or why not (exit 1): no key configured, wrong key,
wrong domain (naming the right one), unreachable, timed out, failing. Never the key
itself, never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import typer

from campaigns.cli import settings_of
from campaigns.settings import Settings, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    line: str


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _why(exc: BaseException, host: str, settings: Settings, api_url_variable: str) -> str:
    """One line saying why the call failed, from the client's error (and the httpx error
    it was raised from, kept in ``__context__``)."""
    import httpx

    from campaigns.providers.errors import AuthError, PermanentError, ProviderError, RateLimited, TemporaryError

    cause = exc.__context__
    if isinstance(exc, AuthError):
        if exc.code == 8:
            return f"the API key was refused by {host} (code 8): check MOBIZON_API_KEY"
        if exc.code == 14:
            return f"the account at {host} is blocked (code 14)"
        return f"{host} refused the call: {exc}"
    if isinstance(exc, PermanentError) and exc.code == 13:
        right = exc.data if isinstance(exc.data, str) and exc.data else None
        if right:
            return f"wrong API domain: your account is on {right}: set {api_url_variable}=https://{right}"
        return f"wrong API domain: {host} is not your account's domain: set {api_url_variable}"
    if isinstance(exc, TemporaryError):
        if isinstance(cause, httpx.TimeoutException):
            if isinstance(cause, httpx.ConnectTimeout):
                limit, variable = settings.http_connect_timeout, "CAMPAIGNS_HTTP_CONNECT_TIMEOUT"
            else:
                limit, variable = settings.http_timeout, "CAMPAIGNS_HTTP_TIMEOUT"
            return f"timed out: {host} did not answer within {limit:g} s ({variable})"
        if isinstance(cause, (httpx.ConnectError, httpx.ProxyError)):
            return f"unreachable: cannot connect to {host}: is {api_url_variable} right and the network up?"
        if isinstance(exc, RateLimited):
            return f"{host} answers but asks to slow down (code 30): try again in a minute"
        return f"{host} is not answering properly: {exc}"
    if isinstance(exc, ProviderError):
        return f"{host} refused the call: {exc}"
    return f"{type(exc).__name__}: {exc}"


def check_mobizon(settings: Settings, *, api_url: str | None = None, label: str = "Mobizon account",
                  api_url_variable: str = "MOBIZON_API_URL") -> CheckResult:
    """One Campaign/List call (one item) with ``settings``' key at ``api_url`` (default:
    MOBIZON_API_URL). Never raises for an account problem: the result says what it is."""
    from campaigns.providers.errors import ProviderError
    from campaigns.providers.mobizon import mobizon_provider_from_settings
    from campaigns.redact import redact

    switched: list[str] = []
    url = api_url or settings.mobizon_api_url
    try:
        provider = mobizon_provider_from_settings(settings, api_url=api_url, on_domain_change=switched.append)
    except SettingsError as exc:
        return CheckResult(False, redact(
            f"{exc} (Mobizon panel → Settings → API); then run `campaigns check --provider mobizon` again"))
    except ValueError as exc:
        return CheckResult(False, redact(f"{api_url_variable} cannot be used: {exc}"))
    failure: ProviderError | None = None
    try:
        provider.client.list_campaigns(page_size=1)
    except ProviderError as exc:
        failure = exc
    finally:
        provider.close()
    if switched:
        # the client followed code 13: whether or not the other domain answered, the setting is wrong
        return CheckResult(False, redact(
            f"wrong API domain: your account is on {_host(switched[-1])}: set {api_url_variable}={switched[-1]}"))
    if failure is not None:
        return CheckResult(False, redact(_why(failure, _host(url), settings, api_url_variable)))
    return CheckResult(True, f"{label} at {_host(url)} answers")


def check_sandbox(settings: Settings) -> CheckResult:
    """The sandbox provider: the simulator at CAMPAIGNS_SANDBOX_URL, or one started here."""
    if settings.sandbox_url:
        return check_mobizon(settings, api_url=settings.sandbox_url, label="sandbox (Mobizon simulator)",
                             api_url_variable="CAMPAIGNS_SANDBOX_URL")
    from campaigns.simulator import SimConfig, SimulatorServer

    with SimulatorServer(SimConfig.sandbox()) as server:
        result = check_mobizon(settings, api_url=server.base_url, label="sandbox (Mobizon simulator started in-process)",
                               api_url_variable="CAMPAIGNS_SANDBOX_URL")
    return result


def check_smsc(settings: Settings) -> CheckResult:
    """One balance.php call with SMSC_LOGIN + SMSC_PASSWORD or SMSC_API_KEY at SMSC_API_URL."""
    import httpx

    from campaigns.providers.errors import ProviderError
    from campaigns.providers.smsc.client import SmscClient
    from campaigns.redact import redact

    if not (settings.smsc_api_key or (settings.smsc_login and settings.smsc_password)):
        return CheckResult(False, "SMSC needs SMSC_LOGIN and SMSC_PASSWORD, or SMSC_API_KEY, in the environment; "
                                  "then run `campaigns check --provider smsc` again")
    http = httpx.Client(timeout=httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout))
    try:
        client = SmscClient(http, login=settings.smsc_login, password=settings.smsc_password,
                            api_key=settings.smsc_api_key, api_url=settings.smsc_api_url)
    except ValueError as exc:
        http.close()
        return CheckResult(False, redact(f"SMSC_API_URL cannot be used: {exc}"))
    host = client.host
    try:
        balance = client.balance()
    except ProviderError as exc:
        return CheckResult(False, redact(_why(exc, host, settings, "SMSC_API_URL")))
    finally:
        client.close()
    return CheckResult(True, redact(f"SMSC account at {host} answers (balance {balance})"))


def check_cascade(settings: Settings) -> CheckResult:
    """The cascade gateway has no balance call: one state request for message id 0 (which
    no message has) in CASCADE_PROTOCOL proves the URL and the credentials."""
    import httpx

    from campaigns.providers.cascade.client import CascadeClient
    from campaigns.providers.errors import ProviderError
    from campaigns.redact import redact

    if not settings.cascade_api_url or not (settings.cascade_token or (settings.cascade_login and settings.cascade_password)):
        return CheckResult(False, "the cascade gateway needs CASCADE_API_URL, and CASCADE_LOGIN and CASCADE_PASSWORD "
                                  "or CASCADE_TOKEN, in the environment; then run `campaigns check --provider cascade`")
    http = httpx.Client(timeout=httpx.Timeout(settings.http_timeout, connect=settings.http_connect_timeout))
    try:
        client = CascadeClient(http, api_url=settings.cascade_api_url, login=settings.cascade_login,
                               password=settings.cascade_password, token=settings.cascade_token,
                               protocol=settings.cascade_protocol)
    except ValueError as exc:
        http.close()
        return CheckResult(False, redact(f"the cascade settings cannot be used: {exc}"))
    host = client.host
    try:
        client.state(["0"])
    except ProviderError as exc:
        return CheckResult(False, redact(_why(exc, host, settings, "CASCADE_API_URL")))
    finally:
        client.close()
    return CheckResult(True, f"cascade gateway at {host} answers ({settings.cascade_protocol} interface)")


CHECKS: dict[str, Callable[[Settings], CheckResult]] = {
    "mobizon": check_mobizon,
    "sandbox": check_sandbox,
    "smsc": check_smsc,
    "cascade": check_cascade,
}


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        ctx: typer.Context,
        provider: str = typer.Option("mobizon", "--provider", "-p", help="mobizon, sandbox, smsc or cascade."),
    ) -> None:
        """Check that the provider account answers with the configured key and domain."""
        name = provider.strip().lower()
        if name not in CHECKS:
            typer.echo(f"error: unknown provider {provider!r}; known: {', '.join(CHECKS)}", err=True)
            raise typer.Exit(EXIT_USAGE)
        result = CHECKS[name](settings_of(ctx))
        if result.ok:
            typer.echo(f"ok: {result.line}")
            raise typer.Exit(EXIT_OK)
        typer.echo(f"error: {result.line}", err=True)
        raise typer.Exit(EXIT_FAILED)
