"""Files kept for a moment under a folder of ours (the HTTP service's uploads, downloaded
sources): each in a new folder with a random name, itself named by a label reduced to a
bare file name, so messages about the file name it as its sender did while no name from
outside can choose a path."""

from __future__ import annotations

import uuid
from pathlib import Path


def label_of(name: str | None) -> str | None:
    """``name`` reduced to a safe label: its last path part, without control characters or
    leading dots, at most 200 bytes (None when nothing is left)."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".").strip()
    while len(clean.encode("utf-8")) > 200:  # file systems take 255 bytes a name
        clean = clean[:-1]
    return clean or None


def spool_path(spool: Path, label: str | None) -> Path:
    """A path for a new file labelled ``label`` in a new random folder inside ``spool``."""
    spool.mkdir(parents=True, exist_ok=True)
    folder = spool / uuid.uuid4().hex
    folder.mkdir(mode=0o700)
    return folder / (label_of(label) or "upload")


def remove_spooled(path: Path | None) -> None:
    """Remove a file made at ``spool_path`` and its folder; quiet when already gone."""
    if path is None:
        return
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:
        pass
