"""Request bodies streamed to the spool folder: a multipart form's file part, or a JSON
body, never held whole in memory, refused (413) as soon as they pass the size limit.

The client's file name is kept only as a label (campaigns.sources.spool): each upload gets
a new folder with a random name inside the spool folder, and the file in it is named by
the label reduced to a bare name, so messages name the file as the client did while no
name a client sends can choose a path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from campaigns.sources.spool import label_of, remove_spooled, spool_path
from campaigns.web.problems import Problem

FIELD_BYTES = 64 * 1024  # one form field's value
MAX_FIELDS = 32
FORM_OVERHEAD = MAX_FIELDS * FIELD_BYTES  # what a body may hold beyond its file
WRITE_BUFFER = 1024 * 1024


@dataclass
class Spooled:
    """A spooled upload: the form's text fields, and the file's path, label, size and digest."""

    fields: dict[str, str] = field(default_factory=dict)
    path: Path | None = None
    label: str | None = None
    size: int = 0
    sha256: str = ""

    def discard(self) -> None:
        """Remove the spooled file and its folder."""
        remove_spooled(self.path)


def too_large(limit: int) -> Problem:
    return Problem(413, f"the request body is larger than the limit of {limit:,} bytes (CAMPAIGNS_MAX_FILE_BYTES)",
                   kind="too-large")


def check_length(request: Request, limit: int) -> None:
    """413 at once when the declared Content-Length is over ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)


class _FormSpooler:
    """Callbacks for python-multipart's streaming parser: text fields kept in memory (each
    at most FIELD_BYTES), the one file part written to the spool as it arrives."""

    def __init__(self, spool: Path, max_file_bytes: int, charset: str):
        self.spool = spool
        self.max_file_bytes = max_file_bytes
        self.charset = charset
        self.result = Spooled()
        self._digest = hashlib.sha256()
        self._out = None
        self._name: str | None = None
        self._is_file = False
        self._data = bytearray()
        self._buffer = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self.error: Problem | None = None

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin, "on_part_data": self.on_part_data, "on_part_end": self.on_part_end,
            "on_header_field": self.on_header_field, "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end, "on_headers_finished": self.on_headers_finished,
        }

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.charset)
        except (UnicodeDecodeError, LookupError):
            return raw.decode("latin-1")

    def on_part_begin(self) -> None:
        self._name, self._is_file, self._disposition = None, False, b""
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise Problem(422, "a form part has no name in its Content-Disposition header", kind="invalid-request")
        self._name = self._decode(options[b"name"])
        if b"filename" in options or self._name == "file":
            if self._name != "file":
                raise Problem(422, f"unexpected file part {self._name!r}: send the recipient file as 'file'",
                              kind="invalid-request")
            if self._out is not None or self.result.path is not None:
                raise Problem(422, "send one recipient file per request", kind="invalid-request")
            self._is_file = True
            self.result.label = label_of(self._decode(options.get(b"filename", b""))) or "upload"
            self.result.path = spool_path(self.spool, self.result.label)
            self._out = open(self.result.path, "xb")
        elif len(self.result.fields) >= MAX_FIELDS:
            raise Problem(422, f"too many form fields (at most {MAX_FIELDS})", kind="invalid-request")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        if self._is_file:
            self.result.size += len(piece)
            if self.result.size > self.max_file_bytes:
                raise too_large(self.max_file_bytes)
            self._digest.update(piece)
            self._buffer += piece
            if len(self._buffer) >= WRITE_BUFFER:
                self._flush()
        else:
            self._data += piece
            if len(self._data) > FIELD_BYTES:
                raise Problem(422, f"form field {self._name!r} is longer than {FIELD_BYTES:,} bytes",
                              kind="invalid-request")

    def _flush(self) -> None:
        if self._out is not None and self._buffer:
            self._out.write(self._buffer)
            self._buffer = bytearray()

    def on_part_end(self) -> None:
        if self._is_file:
            self._flush()
            self._out.close()
            self._out = None
        elif self._name is not None:
            if self._name in self.result.fields:
                raise Problem(422, f"form field {self._name!r} is given twice", kind="invalid-request")
            self.result.fields[self._name] = self._decode(bytes(self._data))

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.result.discard()

    def finish(self) -> Spooled:
        self.result.sha256 = self._digest.hexdigest()
        return self.result


async def spool_form(request: Request, spool: Path, max_file_bytes: int) -> Spooled:
    """Stream a ``multipart/form-data`` body: text fields in memory, the ``file`` part into
    a new file in ``spool``. Raises Problem (413 over the limit, 422 for a malformed form);
    nothing is left in the spool when it raises."""
    check_length(request, max_file_bytes + FORM_OVERHEAD)
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise Problem(422, "the multipart body has no boundary in its Content-Type", kind="invalid-request")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    spooler = _FormSpooler(spool, max_file_bytes, charset)
    parser = MultipartParser(boundary, spooler.callbacks())
    total = 0
    try:
        async for piece in request.stream():
            total += len(piece)
            if total > max_file_bytes + FORM_OVERHEAD:
                raise too_large(max_file_bytes)
            parser.write(piece)
        parser.finalize()
    except FormParserError:
        spooler.abort()
        raise Problem(422, "the multipart body is malformed", kind="invalid-request") from None
    except ClientDisconnect:
        spooler.abort()
        raise Problem(400, "the client closed the connection before the body ended", kind="incomplete") from None
    except BaseException:
        spooler.abort()
        raise
    if spooler._out is not None:  # the body ended inside the file part
        spooler.abort()
        raise Problem(422, "the multipart body ended before the file did", kind="invalid-request")
    return spooler.finish()


async def read_json_body(request: Request, limit: int) -> bytes:
    """The body of a JSON request, read up to ``limit`` bytes (413 beyond)."""
    check_length(request, limit)
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise too_large(limit)
    except ClientDisconnect:
        raise Problem(400, "the client closed the connection before the body ended", kind="incomplete") from None
    return bytes(body)

