"""Every file format ``bank import`` reads and ``bank export`` writes, one module each.

takeback's own ``jsonl`` and ``csv`` (:mod:`takeback.banks.transfer`) carry everything; the others
are the formats other tools speak: python-threatexchange's signal CSV and HMA's bank-content JSON
(:mod:`.threatexchange`), Project VIC VICS 1.3 / 2.0 JSON (:mod:`.vics`), ``md5sum`` /
``sha256sum`` lists (:mod:`.coreutils`) and NIST NSRL RDS v3 SQLite (:mod:`.nsrl`). What a format
has no field for is kept in the entry's metadata, so exporting an imported file in its format gives
the same file back.

Every reader yields ``(line, entry | problem)``; :func:`read_file` collects all of a file's problems
before anything is written, so a file imports whole or not at all. NSRL databases are read twice
(:func:`stream_file`): once to check every row, then in batches into one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, TextIO

from takeback.banks.formats import coreutils, nsrl, threatexchange, vics
from takeback.banks.formats.common import Row
from takeback.banks.service import ContentView, ImportFileError, NewContent
from takeback.banks.transfer import TransferFormat, read_records, write_export

#: bad rows kept to report (a huge file can be all bad; the count is still exact)
MAX_PROBLEMS = 1_000


class BankFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    TE_CSV = "te-csv"
    HMA_JSON = "hma-json"
    VICS_13 = "vics-1.3"
    VICS_20 = "vics-2.0"
    MD5SUM = "md5sum"
    SHA256SUM = "sha256sum"
    NSRL = "nsrl"

    @property
    def needs_file(self) -> bool:
        """Read from and written to a file by name (a database), never a stream."""
        return self is BankFormat.NSRL


def guess_format(name: str) -> BankFormat | None:
    lower = name.lower()
    for suffix, fmt in (
        ((".jsonl", ".ndjson"), BankFormat.JSONL),
        ((".te.csv", ".te"), BankFormat.TE_CSV),
        ((".hma.json",), BankFormat.HMA_JSON),
        ((".vics.json",), BankFormat.VICS_20),
        ((".json",), BankFormat.JSONL),
        ((".csv",), BankFormat.CSV),
        ((".md5", ".md5sum", ".md5sums"), BankFormat.MD5SUM),
        ((".sha256", ".sha256sum", ".sha256sums"), BankFormat.SHA256SUM),
        ((".db", ".sqlite", ".sqlite3"), BankFormat.NSRL),
    ):
        if lower.endswith(suffix):
            return fmt
    return None


def rows(data: BinaryIO | Path, *, fmt: BankFormat, source: str) -> Iterator[Row]:
    """Every row of a file, as an entry or a problem, in file order."""
    default_source = f"import:{source}"
    if fmt is BankFormat.NSRL:
        if not isinstance(data, Path):
            yield 0, "an NSRL database is read from a file, not standard input."
            return
        yield from nsrl.read_nsrl(data, default_source=default_source)
        return
    if isinstance(data, Path):
        with open(data, "rb") as fh:
            yield from rows(fh, fmt=fmt, source=source)
        return
    if fmt in (BankFormat.JSONL, BankFormat.CSV):
        yield from read_records(data, fmt=TransferFormat(fmt.value), default_source=default_source)
    elif fmt is BankFormat.TE_CSV:
        yield from threatexchange.read_te_csv(data, default_source=default_source)
    elif fmt is BankFormat.HMA_JSON:
        yield from threatexchange.read_hma_json(data, default_source=default_source)
    elif fmt in (BankFormat.VICS_13, BankFormat.VICS_20):
        version = "1.3" if fmt is BankFormat.VICS_13 else "2.0"
        yield from vics.read_vics(data, version=version, default_source=default_source)
    else:
        algorithm = "md5" if fmt is BankFormat.MD5SUM else "sha256"
        yield from coreutils.read_sums(data, algorithm=algorithm, default_source=default_source)


def check_file(data: BinaryIO | Path, *, fmt: BankFormat, source: str) -> int:
    """Read every row and keep none: the number of entries, or :class:`ImportFileError`."""
    n = 0
    problems: list[tuple[int, str]] = []
    total = 0
    for line, rec in rows(data, fmt=fmt, source=source):
        if isinstance(rec, str):
            total += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append((line, rec))
        else:
            n += 1
    if total:
        raise ImportFileError(problems, source=source, total=total)
    return n


def read_file(data: BinaryIO | Path, *, fmt: BankFormat, source: str) -> list[NewContent]:
    """Every entry of a file, or :class:`ImportFileError` listing its bad rows."""
    entries: list[NewContent] = []
    problems: list[tuple[int, str]] = []
    total = 0
    for line, rec in rows(data, fmt=fmt, source=source):
        if isinstance(rec, str):
            total += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append((line, rec))
        elif not total:
            entries.append(rec)
    if total:
        raise ImportFileError(problems, source=source, total=total)
    return entries


def stream_file(
    path: Path, *, fmt: BankFormat, source: str, batch: int = 20_000
) -> Iterator[Sequence[NewContent]]:
    """The entries of a file already checked with :func:`check_file`, a batch at a time."""
    part: list[NewContent] = []
    for _, rec in rows(path, fmt=fmt, source=source):
        if isinstance(rec, str):  # changed since it was checked
            raise ImportFileError([(0, f"{source} changed while it was imported.")], source=source)
        part.append(rec)
        if len(part) >= batch:
            yield part
            part = []
    if part:
        yield part


def write_file(
    views: Iterable[ContentView], out: TextIO | Path, *, fmt: BankFormat, bank: str
) -> tuple[int, int]:
    """Write a bank's entries; (written, left out because the format has no field for their hashes)."""
    if fmt is BankFormat.NSRL:
        if not isinstance(out, Path):
            raise ValueError("nsrl exports need a file")
        return nsrl.write_nsrl(views, out)
    assert not isinstance(out, Path)
    if fmt in (BankFormat.JSONL, BankFormat.CSV):
        n = write_export(views, out, TransferFormat(fmt.value))
        return n, 0
    if fmt is BankFormat.TE_CSV:
        n = threatexchange.write_te_csv(views, out)
    elif fmt is BankFormat.HMA_JSON:
        n = threatexchange.write_hma_json(views, out)
    elif fmt in (BankFormat.VICS_13, BankFormat.VICS_20):
        version = "1.3" if fmt is BankFormat.VICS_13 else "2.0"
        n = vics.write_vics(views, out, version=version, case=bank)
    else:
        written = coreutils.write_sums(views, out, algorithm="md5" if fmt is BankFormat.MD5SUM else "sha256")
        out.flush()
        return written
    out.flush()
    return n, 0


__all__ = ["BankFormat", "check_file", "guess_format", "read_file", "rows", "stream_file", "write_file"]
