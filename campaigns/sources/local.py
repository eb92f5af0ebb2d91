"""A recipient file already on this machine: a plain path or a ``file:`` URL.

The file itself is read where it is, never copied.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import unquote_to_bytes, urlsplit

from campaigns.sources.describe import FILE, source_kind
from campaigns.sources.errors import SourceError


def local_path(source: str, shown: str) -> Path:
    """The absolute path a plain path or ``file:`` URL names (percent-decoded for URLs).

    Raises SourceError for a ``file:`` URL naming another host or carrying a query.
    """
    if source_kind(source) != FILE:
        if not source.strip():
            raise SourceError(shown or "(empty source)", "no file named")
        return Path(source).absolute()
    parts = urlsplit(source)
    if parts.netloc not in ("", "localhost"):
        raise SourceError(shown, f"a file URL on another host ({parts.netloc}) cannot be read")
    if parts.query or parts.fragment:
        raise SourceError(
            shown, "a file URL cannot carry a query or a fragment (encode '?' as %3F, '#' as %23)"
        )
    if not parts.path:
        raise SourceError(shown, "no file named")
    # bytes, then the file system's encoding: a name that is not UTF-8 still round-trips
    return Path(os.fsdecode(unquote_to_bytes(parts.path))).absolute()


def check_local_file(path: Path, shown: str) -> int:
    """The size in bytes of the regular, readable file at ``path``.

    Raises SourceError (never temporary) when it is missing, a folder, not a regular
    file (a pipe or a device would block or never end), or cannot be opened for reading.
    """
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError(shown, "is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(shown, "is not a regular file")
        # opening is the only honest test of readability (os.access ignores ACLs and root)
        with open(path, "rb"):
            pass
    except (FileNotFoundError, NotADirectoryError):
        raise SourceError(shown, "no such file") from None
    except PermissionError:
        raise SourceError(shown, "not readable (permission denied)") from None
    except IsADirectoryError:  # replaced by a folder between stat and open
        raise SourceError(shown, "is a folder, not a file") from None
    except OSError as exc:
        raise SourceError(shown, f"cannot be read: {exc.strerror or type(exc).__name__}") from None
    return info.st_size
