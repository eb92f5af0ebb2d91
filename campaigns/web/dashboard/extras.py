"""Pages of other features (schedules, the watched bucket, incoming replies, opt-outs):
each one a template and a route in its own module here, listed in the menu by
``available_pages``. A feature whose service has not landed has no page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExtraPage:
    href: str
    title: str
    role: str = "viewer"


# Filled by the page modules included in campaigns.web.dashboard.router
PAGES: list[ExtraPage] = []


def available_pages() -> list[ExtraPage]:
    return list(PAGES)
