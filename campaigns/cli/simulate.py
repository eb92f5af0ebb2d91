"""``campaigns simulate``: serve the project's Mobizon simulator until Ctrl-C.

Point MOBIZON_API_URL (or CAMPAIGNS_SANDBOX_URL) at the URL it prints to rehearse a
campaign end to end without an account. Exit codes: 0 stopped, 1 cannot listen, 2 usage.
"""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer


class Profile(str, Enum):
    mobizon = "mobizon"
    sandbox = "sandbox"
    cascade = "cascade"


def _stop_on_sigterm() -> None:
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def _serve_cascade(host: str, port: int, speed: float | None, token: str | None) -> None:
    """The cascade gateway simulator: any login and password (or only ``token``), phones
    ending in 3, 6 or 9 without Viber and in 6 or 9 without VK, each channel tried 0.2 s."""
    from campaigns.simulator.cascade import create_cascade_app
    from campaigns.simulator.cascade_gateway import CascadeConfig, CascadeGateway
    from campaigns.simulator.server import SimulatorServer

    config = CascadeConfig(token=token or None, no_viber_endings=("3", "6", "9"), no_vk_endings=("6", "9"),
                           delivery_seconds=0.2, speed=speed or 1.0)
    server = SimulatorServer(create_cascade_app(CascadeGateway(config)), host=host, port=port)
    try:
        url = server.start()
    except OSError as exc:
        typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    credentials = f"CASCADE_TOKEN={token}" if token else "CASCADE_LOGIN=sandbox CASCADE_PASSWORD=sandbox"
    typer.echo(f"cascade gateway simulator listening on {url}")
    typer.echo(f"  use it with: CASCADE_API_URL={url} {credentials}")
    typer.echo("  phones ending in 3, 6, 9 have no Viber; in 6, 9 no VK either (they get the next channel)")
    typer.echo(f"  inspect it:  {url}/_sim/state   (Ctrl-C to stop)")
    _stop_on_sigterm()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    typer.echo("simulator stopped")


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        profile: Profile = typer.Argument(
            Profile.mobizon,
            help="mobizon: moderation on, 60× clock; sandbox: no moderation, 600× clock, deferred dates taken as given; "
                 "cascade: the Viber/VK/SMS cascade gateway (CASCADE_API_URL).",
        ),
        host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0 for every interface)."),
        port: int = typer.Option(0, "--port", min=0, max=65535, help="Port to listen on; 0 picks a free one."),
        speed: Optional[float] = typer.Option(None, "--speed", min=0, help="Simulated seconds per real second."),
        moderation: Optional[bool] = typer.Option(
            None, "--moderation/--no-moderation", help="Send campaigns through MODERATION first."
        ),
        api_key: Optional[str] = typer.Option(
            None, "--api-key", help="Accept only this API key (default: any key).", show_default=False
        ),
        home_domain: Optional[str] = typer.Option(
            None, "--home-domain", help="Answer code 13 naming this domain to requests for any other Host."
        ),
        seed: int = typer.Option(0, "--seed", help="Seed of the final-status draw and probabilistic faults."),
    ) -> None:
        """Serve the Mobizon simulator (Campaign, Message, TaskQueue, User modules) over HTTP.

        With the profile `cascade`: the Viber/VK/SMS cascade gateway (JSON, GET and XML
        interfaces; --api-key makes it accept only that CASCADE_TOKEN)."""
        from campaigns.simulator import SimConfig, SimulatorServer

        if profile is Profile.cascade:
            _serve_cascade(host, port, speed, api_key)
            return

        changes: dict = {"seed": seed}
        if speed is not None:
            changes["speed"] = speed
        if moderation is not None:
            changes["moderation"] = moderation
        if api_key:
            changes["api_key"] = api_key
        if home_domain:
            changes["home_domain"] = home_domain
        config = SimConfig.sandbox(**changes) if profile is Profile.sandbox else SimConfig().updated(changes)
        server = SimulatorServer(config, host=host, port=port)
        try:
            url = server.start()
        except OSError as exc:
            typer.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
        variable = "CAMPAIGNS_SANDBOX_URL" if profile is Profile.sandbox else "MOBIZON_API_URL"
        typer.echo(f"Mobizon simulator ({profile.value}) listening on {url}")
        typer.echo(f"  use it with: {variable}={url}")
        typer.echo(f"  inspect it:  {url}/_sim/state   (Ctrl-C to stop)")
        _stop_on_sigterm()  # `docker stop` sends SIGTERM: stop as cleanly as on Ctrl-C
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
        typer.echo("simulator stopped")
