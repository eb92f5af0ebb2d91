"""Shared by the watched-bucket tests: writing drops, and running scans and drop steps in
this process (the campaigns' own steps are collected, not run)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from sqlalchemy import func, select

from campaigns.intake.locations import watched
from campaigns.intake.scan import scan_locations
from campaigns.intake.take import advance_drop
from campaigns.store.drops import Drop
from campaigns.store.models import Campaign
from campaigns.store.uow import UnitOfWork


def phones_rows(count: int, first: int = 0) -> list[list[str]]:
    return [[f"+7701{first + i:07d}", f"N{i}"] for i in range(count)]


def write_csv(path: Path, count: int, first: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["phone", "name"])
        writer.writerows(phones_rows(count, first))
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


class Harness:
    """Scans and drop steps run here, the way the tick and the workers run them."""

    def __init__(self, settings, engine, storages=None):
        self.settings, self.engine, self.storages = settings, engine, storages
        self.campaign_steps: list = []
        # the PostgreSQL database lives for the session: count only what this test made
        with self.uow() as uow:
            self.first_campaign = (uow.session.scalar(select(func.max(Campaign.id))) or 0) + 1

    def uow(self):
        return UnitOfWork(self.engine)

    def scan(self):
        return scan_locations(self.settings, self.uow, storages=self.storages)

    def step(self, drop_id: int, storage=None):
        return advance_drop(drop_id, self.settings, self.engine, self.campaign_steps.extend, storage=storage)

    def round(self) -> list:
        """One scan and every step it asks for, with the steps those ask for (countdowns
        are not waited for); returns the scans."""
        scans = self.scan()
        pending = [s.campaign_id for scan in scans for s in scan.steps]
        for _ in range(10):
            if not pending:
                break
            pending = [s.campaign_id for drop_id in pending for s in self.step(drop_id)]
        return scans

    def drops(self) -> list[Drop]:
        with self.uow() as uow:
            locations = [s.location for s in (self.storages or watched(self.settings))]
            rows = list(uow.session.scalars(select(Drop).where(Drop.location.in_(locations)).order_by(Drop.id)))
            for row in rows:
                uow.session.expunge(row)
            return rows

    def campaigns(self) -> int:
        with self.uow() as uow:
            return uow.session.scalar(select(func.count()).select_from(Campaign)
                                      .where(Campaign.id >= self.first_campaign))

    def campaign(self, campaign_id: int) -> Campaign:
        with self.uow() as uow:
            row = uow.session.get(Campaign, campaign_id)
            uow.session.expunge(row)
            return row
