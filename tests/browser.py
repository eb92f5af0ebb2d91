"""Real headless Chromium for the dashboard's tests: Debian's ``chromium`` driven by
Playwright (never ``playwright install``: the browser is the system's, installed by
scripts/services.sh). Under CI=true a missing browser fails the test (tests.services)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests import services

CHROMIUM = os.environ.get("CAMPAIGNS_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def require_browser() -> None:
    """Skip (fail under CI=true) without Playwright or the chromium binary."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        services.require("Playwright for Python (pip install playwright)", False)
    services.require(f"chromium ({CHROMIUM})", Path(CHROMIUM).is_file())


def add_user(env: dict[str, str], name: str, role: str, password: str) -> None:
    """``campaigns user add NAME --role ROLE --password-stdin``."""
    from tests.cluster import CAMPAIGNS

    done = subprocess.run([CAMPAIGNS, "user", "add", name, "--role", role, "--password-stdin"], env=env,
                          input=password + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def sign_in(page, base_url: str, name: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/campaigns")


def canvas_painted(page, selector: str) -> int:
    """How many pixels of the canvas at ``selector`` are not transparent."""
    return page.eval_on_selector(selector, """canvas => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) painted++; }
        return painted;
    }""")


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


__all__ = ["ARGS", "CHROMIUM", "add_user", "canvas_painted", "launch", "require_browser", "sign_in"]
