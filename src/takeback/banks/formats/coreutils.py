"""``md5sum`` / ``sha256sum`` lists: ``<hex>  <name>`` (``<hex> *<name>`` in binary mode), the
escaped form coreutils writes for names holding a backslash or newline (the line starts with
``\\``), and the BSD / ``--tag`` form ``MD5 (<name>) = <hex>``.

One line is one entry with one hash; the name is kept in the metadata as ``file_name`` and written
back, so a list comes back out the same (entries without that hash are left out of an export, and
counted). Names that are not UTF-8 are kept with their odd bytes as ``\\xNN``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, TextIO

from takeback.banks.formats.common import Row, signal
from takeback.banks.service import BankError, ContentView, NewContent, check_metadata
from takeback.errors import TakebackError

_TAG = re.compile(r"^(MD5|SHA256) \((?P<name>.*)\) = (?P<hex>[0-9A-Fa-f]+)$")
#: a name longer than this is a bad row, not a file name
MAX_NAME_CHARS = 4_096


def _unescape(name: str) -> str:
    out, i = [], 0
    while i < len(name):
        c = name[i]
        if c == "\\" and i + 1 < len(name):
            nxt = name[i + 1]
            out.append({"\\": "\\", "n": "\n", "r": "\r"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _escape(name: str) -> tuple[bool, str]:
    if any(c in name for c in "\\\n\r"):
        return True, name.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return False, name


def parse_line(line: str, *, algorithm: str) -> tuple[str, str]:
    """(hex, name) of one list line, or ``BankError`` saying what is wrong with it."""
    size = 32 if algorithm == "md5" else 64
    tag = _TAG.match(line)
    if tag:
        if tag.group(1).lower() != algorithm:
            raise BankError(f"a {tag.group(1)} line in a {algorithm}sum list.")
        return tag.group("hex"), tag.group("name")
    escaped = line.startswith("\\")
    body = line[1:] if escaped else line
    digest, sep, rest = body.partition(" ")
    if not sep or len(digest) != size or rest[:1] not in (" ", "*"):
        raise BankError(
            f"not a {algorithm}sum line: expected {size} hex characters, two spaces (or ' *') and a name."
        )
    name = rest[1:]
    return digest, _unescape(name) if escaped else name


def read_sums(data: BinaryIO, *, algorithm: str, default_source: str) -> Iterator[Row]:
    for line_no, raw in enumerate(data, start=1):
        if line_no == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            yield 1, "UTF-16 text: save the list as UTF-8."
            return
        if line_no == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        line = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            digest, name = parse_line(line, algorithm=algorithm)
            if len(name) > MAX_NAME_CHARS:
                raise BankError(f"the file name is {len(name):,} characters (at most {MAX_NAME_CHARS:,}).")
            sig = signal(algorithm, digest, field=algorithm)
            yield (
                line_no,
                NewContent(
                    signals=(sig,), metadata=check_metadata({"file_name": name}), source=default_source
                ),
            )
        except TakebackError as exc:
            yield line_no, exc.message


def write_sums(views: Iterable[ContentView], out: TextIO, *, algorithm: str) -> tuple[int, int]:
    """(written, left out for having no such hash)."""
    written = skipped = 0
    for v in views:
        value = v.signals.get(algorithm)
        if value is None:
            skipped += 1
            continue
        name = v.metadata.get("file_name")
        escaped, shown = _escape(name if isinstance(name, str) and name else f"takeback-entry-{v.id}")
        out.write(("\\" if escaped else "") + value[0].hex() + "  " + shown + "\n")
        written += 1
    return written, skipped
