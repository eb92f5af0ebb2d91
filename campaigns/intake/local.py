"""A watched folder on this machine (or mounted on it).

A file there may be seen while it is still being written, so ``changed`` is the later of
its modification time and its inode change time: a copy that sets an old modification
time (``cp -p``, some sync tools) or a rename into the folder still counts as a change.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from campaigns.intake.locations import RESULT_FOLDERS, Entry, Listing, LocationError


class LocalFolder:
    settles = True

    def __init__(self, root: Path):
        self.root = Path(os.path.abspath(root))
        self.location = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalFolder({str(self.root)!r})"

    def _abs(self, path: str) -> Path:
        parts = path.split("/")
        if any(p in ("", ".", "..") for p in parts):  # never a path outside the folder
            raise LocationError(f"{self.location}: {path!r} is not a path inside the folder")
        return self.root.joinpath(*parts)

    def list(self) -> Listing:
        listing = Listing()
        if not self.root.is_dir():
            raise LocationError(f"{self.location}: no such folder", temporary=True)
        try:
            self._walk(self.root, "", listing)
        except OSError as exc:
            raise LocationError(f"{self.location}: cannot be read: {exc.strerror or exc}", temporary=True) from None
        return listing

    def _walk(self, folder: Path, below: str, listing: Listing) -> None:
        listing.calls += 1
        with os.scandir(folder) as entries:
            for item in entries:
                name = item.name
                try:
                    name.encode("utf-8")
                except UnicodeEncodeError:  # a name that is not UTF-8 cannot be stored or shown
                    listing.skipped.append(os.fsencode(item.path).decode("utf-8", "backslashreplace"))
                    continue
                rel = f"{below}{name}"
                try:
                    if item.is_dir(follow_symlinks=False):
                        if name.startswith(".") or (not below and name in RESULT_FOLDERS):
                            continue
                        self._walk(Path(item.path), rel + "/", listing)
                        continue
                    if not item.is_file(follow_symlinks=True):
                        continue
                    info = item.stat(follow_symlinks=True)
                except FileNotFoundError:  # gone while listed
                    continue
                listing.entries.append(_entry(rel, info))

    def stat(self, path: str) -> Entry | None:
        try:
            info = os.stat(self._abs(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise LocationError(f"{self.location}: {path}: {exc.strerror or exc}", temporary=True) from None
        return _entry(path, info) if stat.S_ISREG(info.st_mode) else None

    def read(self, path: str, limit: int) -> bytes:
        try:
            with open(self._abs(path), "rb") as handle:
                data = handle.read(limit + 1)
        except FileNotFoundError:
            raise LocationError(f"{path}: no such file") from None
        except OSError as exc:
            raise LocationError(f"{path}: cannot be read: {exc.strerror or exc}", temporary=True) from None
        if len(data) > limit:
            raise LocationError(f"{path}: more than {limit // 1024} KiB")
        return data

    @contextmanager
    def fetch(self, path: str, settings, workdir: Path) -> Iterator[Path]:
        from campaigns.sources import SourceError, fetch_source

        try:
            with fetch_source(str(self._abs(path)), settings, workdir=workdir) as fetched:
                yield Path(fetched.path)
        except SourceError as exc:
            raise LocationError(str(exc), temporary=exc.temporary) from None

    def exists(self, path: str) -> bool:
        return self._abs(path).exists()

    def write(self, path: str, data: bytes) -> None:
        target = self._abs(path)
        partial = target.with_name(f".{target.name}.partial")  # hidden: never taken for a drop
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(data)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise LocationError(f"{self.location}: cannot write {path}: {exc.strerror or exc}", temporary=True) from None

    def put_file(self, path: str, local: Path) -> None:
        target = self._abs(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if Path(local).resolve() != target.resolve():
                shutil.copyfile(local, target.with_name(f".{target.name}.partial"))
                os.replace(target.with_name(f".{target.name}.partial"), target)
        except OSError as exc:
            raise LocationError(f"{self.location}: cannot write {path}: {exc.strerror or exc}", temporary=True) from None

    def move(self, src: str, dst: str) -> bool:
        source, target = self._abs(src), self._abs(dst)
        try:
            if not source.exists():
                return target.exists()
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(source, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:  # a sub-folder that is another file system
                    raise
                shutil.move(str(source), str(target))
        except OSError as exc:
            raise LocationError(f"{self.location}: cannot move {src} to {dst}: {exc.strerror or exc}",
                                temporary=True) from None
        return True

    def local_path(self, path: str) -> Path:
        """Where a result file lives (a report is written there directly)."""
        return self._abs(path)


def _entry(path: str, info: os.stat_result) -> Entry:
    changed = max(info.st_mtime, info.st_ctime)
    return Entry(path=path, size=info.st_size, changed=changed, identity=f"{info.st_size}:{info.st_mtime_ns}")
