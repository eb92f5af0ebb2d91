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


def _stop_on_sigterm() -> None:
    import signal
    import threading

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, interrupt)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        profile: Profile = typer.Argument(
            Profile.mobizon,
            help="mobizon: moderation on, 60× clock; sandbox: no moderation, 600× clock, deferred dates taken as given.",
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
        """Serve the Mobizon simulator (Campaign, Message, TaskQueue, User modules) over HTTP."""
        from campaigns.simulator import SimConfig, SimulatorServer

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
