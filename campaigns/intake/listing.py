"""What in a location's listing is a drop: a recipient file with its settings (a manifest
of the same stem, ``promo.csv`` + ``promo.json``, and/or the folder's ``_campaign.json``),
complete once nothing in it changed for the settle time. Pure functions of a listing.

Ignored: hidden names and folders, ``~$…`` lock files, ``*.part``, ``*.tmp``,
``*.crdownload`` (campaigns.sources.s3.is_candidate: the rule fetching a prefix uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

from campaigns.intake.locations import Entry, in_result_folder

RECIPIENT_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls", ".ods")
MANIFEST_SUFFIX = ".json"
FOLDER_SETTINGS = "_campaign.json"


@dataclass(frozen=True)
class Candidate:
    """A recipient file and the settings found for it; ``waiting`` says why it is not
    taken yet (None: it is ready)."""

    file: Entry
    manifest: Entry | None
    folder_settings: Entry | None
    waiting: str | None = None


@dataclass
class Sorted:
    ready: list[Candidate] = field(default_factory=list)
    waiting: list[Candidate] = field(default_factory=list)
    orphans: list[Entry] = field(default_factory=list)  # manifests alone past the orphan time
    ignored: list[str] = field(default_factory=list)  # not recipient files (other kinds)
    settles_at: float | None = None  # when the first drop still settling will have settled


def folder_of(path: str) -> str:
    return path.rpartition("/")[0]


def stem_of(path: str) -> str:
    """``team/promo.csv`` -> ``team/promo``."""
    folder, _, name = path.rpartition("/")
    stem = PurePosixPath(name).stem if "." in name.lstrip(".") else name
    return f"{folder}/{stem}" if folder else stem


def suffix_of(path: str) -> str:
    return PurePosixPath(path.rpartition("/")[2]).suffix


def is_taken_form(path: str) -> bool:
    """Whether ``path`` may be looked at at all (not hidden, not temporary, not a result)."""
    from campaigns.sources.s3 import is_candidate

    return is_candidate(path, "") and not in_result_folder(path)


def sort_listing(entries: list[Entry], *, now: float, settle: float, orphan_after: float) -> Sorted:
    """Sort ``entries`` into drops ready to take, drops waiting (settling, or without any
    settings), manifests alone for longer than ``orphan_after`` seconds, and other files."""
    out = Sorted()
    folder_settings: dict[str, Entry] = {}
    manifests: dict[str, Entry] = {}
    files: list[Entry] = []
    for entry in entries:
        if not is_taken_form(entry.path):
            continue
        name = entry.path.rpartition("/")[2]
        suffix = suffix_of(entry.path).lower()
        if name.lower() == FOLDER_SETTINGS:
            folder_settings[folder_of(entry.path)] = entry
        elif suffix == MANIFEST_SUFFIX:
            manifests[stem_of(entry.path)] = entry
        elif suffix in RECIPIENT_SUFFIXES:
            files.append(entry)
        else:
            out.ignored.append(entry.path)

    def settled(entry: Entry | None) -> bool:
        return entry is None or now - entry.changed >= settle

    stems_with_files = set()
    for file in sorted(files, key=lambda e: e.path):
        stem = stem_of(file.path)
        stems_with_files.add(stem)
        manifest = manifests.get(stem)
        folder = folder_settings.get(folder_of(file.path))
        if manifest is None and folder is None:
            waiting = f"no settings: add {PurePosixPath(stem).name}.json or {FOLDER_SETTINGS} beside it"
        elif not (settled(file) and settled(manifest) and settled(folder)):
            waiting = "settling: still being written"
            at = max(e.changed for e in (file, manifest, folder) if e is not None) + settle
            out.settles_at = at if out.settles_at is None else min(out.settles_at, at)
        else:
            waiting = None
        candidate = Candidate(file=file, manifest=manifest, folder_settings=folder, waiting=waiting)
        (out.waiting if waiting else out.ready).append(candidate)
    for stem, manifest in sorted(manifests.items()):
        if stem not in stems_with_files and now - manifest.changed >= orphan_after:
            out.orphans.append(manifest)
    return out
