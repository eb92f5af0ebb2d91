"""The pre-flight report of a recipient file, as JSON and as a rich table for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

REASON_LABELS = {"duplicate": "duplicates"}


@dataclass
class FileInfo:
    name: str
    kind: str | None = None  # csv | xlsx | xls | ods …, as the reader saw it
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    header_row: int | None = None  # None: the file has no header row
    phone_column: str | None = None  # the phone column's header, or its position when unnamed


@dataclass
class IngestReport:
    """What a recipient file holds and whether it can be sent.

    ``rows`` counts data rows (not the header, not blank lines); ``valid + invalid +
    duplicates == rows``. ``sendable`` is False when the file was refused (``refusal`` says
    why in one line) or holds no valid recipient.
    """

    file: FileInfo
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    duplicates: int = 0
    invalid_by_reason: dict[str, int] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    placeholder_problems: list[str] = field(default_factory=list)
    segments: dict[str, Any] = field(
        default_factory=lambda: {"total": 0, "max_per_message": 0, "encoding": "GSM-7"}
    )
    problems: list[dict[str, Any]] = field(default_factory=list)
    chunks: int = 0
    campaign_type: int = 2  # Mobizon data[type]: 3 template when the text has placeholders, else 2
    placeholders_flag: int = 1
    refusal: str | None = None

    @property
    def sendable(self) -> bool:
        return self.refusal is None and self.valid > 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; its top-level keys include rows, valid, invalid, duplicates."""
        data = asdict(self)
        data["sendable"] = self.sendable
        return data

    @classmethod
    def refused(cls, name: str, reason: str) -> "IngestReport":
        """The report of a file refused as a whole."""
        return cls(file=FileInfo(name=name), refusal=reason)


def print_report(report: IngestReport, console) -> None:
    """Print ``report`` on a rich ``console`` for people."""
    from rich.table import Table
    from rich.text import Text

    info = report.file
    facts = [info.kind or "?"]
    if info.encoding:
        facts.append(info.encoding)
    if info.delimiter:
        facts.append(f"delimiter {_shown(info.delimiter)}")
    if info.sheet:
        facts.append(f"sheet {info.sheet!r}")
    if info.phone_column is not None:
        facts.append(f"phones in column {info.phone_column!r}")
    facts.append("header row " + (str(info.header_row) if info.header_row else "none"))
    console.print(Text(_printable(f"{info.name}: " + ", ".join(facts))))

    counts = Table(show_header=False, box=None, pad_edge=False)
    counts.add_column(style="bold")
    counts.add_column(justify="right")
    counts.add_row("rows", f"{report.rows:,}")
    counts.add_row("valid", f"[green]{report.valid:,}[/green]")
    counts.add_row("invalid", f"[red]{report.invalid:,}[/red]" if report.invalid else "0")
    for reason, number in sorted(report.invalid_by_reason.items(), key=lambda kv: -kv[1]):
        counts.add_row(Text(f"  {reason}", style="dim"), f"{number:,}")
    counts.add_row("duplicates", f"[yellow]{report.duplicates:,}[/yellow]" if report.duplicates else "0")
    segments = report.segments
    counts.add_row(
        "segments",
        f"{segments['total']:,} ({segments['encoding']}, at most {segments['max_per_message']} per message)",
    )
    if report.valid:
        counts.add_row("chunks", f"{report.chunks:,}")
    console.print(counts)

    if report.placeholders:
        console.print(Text("placeholders: " + ", ".join("{" + p + "}" for p in report.placeholders)))
    for problem in report.placeholder_problems:
        console.print(Text(f"  ! {problem}", style="yellow"))

    if report.problems:
        table = Table(title=f"first {len(report.problems)} problem rows", title_justify="left")
        table.add_column("row", justify="right")
        table.add_column("phone as given")
        table.add_column("reason")
        for problem in report.problems:
            phone, reason = _printable(problem["phone"] or ""), _printable(problem["reason"])
            table.add_row(str(problem["row"]), Text(phone), Text(reason))
        console.print(table)

    if report.sendable:
        plural = "s" if report.valid > 1 else ""
        console.print(Text(f"sendable: {report.valid:,} recipient{plural}", style="bold green"))
    else:
        console.print(Text(f"refused: {report.refusal}", style="bold red"))


# Control characters from a file's cells never reach the terminal (an ESC could restyle it).
_CONTROLS = dict.fromkeys([*range(32), *range(127, 160)], "\ufffd")


def _printable(text: str) -> str:
    return text.translate(_CONTROLS)


def _shown(delimiter: str) -> str:
    return {"\t": "TAB", " ": "space"}.get(delimiter, repr(delimiter))
