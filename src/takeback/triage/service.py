"""What the CLI (and later the web layer) calls: scan, write the report and exports, verify a case
folder, and hand a group's fingerprints to the banks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from takeback.evidence.custody import CustodyEntry, SqlCustodyStore, verify_entries
from takeback.evidence.signing import PublicKey, Signer
from takeback.reports import render_html, render_pdf
from takeback.triage import reviewlog
from takeback.triage.archives import ArchiveLimits
from takeback.triage.casedb import CaseDB, disk_full_error, is_disk_full
from takeback.triage.content import ContentAccess
from takeback.triage.errors import TriageError
from takeback.triage.exports import BankSelection, write_exports
from takeback.triage.grouping import group_digest, log_mismatches
from takeback.triage.models import ScanSettings, grp, item, source
from takeback.triage.pipeline import RunOptions, Scanner, ScanSummary, batch_digest, items_digest, record_hash
from takeback.triage.report import build_document

if TYPE_CHECKING:
    from takeback.banks.service import ImportReport
    from takeback.store import Database

REPORT_HTML = "report.html"
REPORT_PDF = "report.pdf"


def scan(
    folder: Path, sources: list[str] | None, *, settings: ScanSettings, run: RunOptions
) -> tuple[CaseDB, ScanSummary]:
    """Create or resume the case at ``folder`` and scan; the case stays open (and locked) for the
    caller to write outputs, then close."""
    case = CaseDB.open(folder, create=bool(sources))
    try:
        summary = Scanner(case, settings=settings, run=run, source_args=sources).run()
    except BaseException:
        case.close()
        raise
    return case, summary


def stored_settings(folder: Path) -> ScanSettings | None:
    """The settings a case was created with (``None`` for a new folder)."""
    if not (folder / "case.db").is_file():
        return None
    case = CaseDB.open_read_only(folder)
    try:
        with case.session() as s:
            data = case.get_meta(s, "settings")
    finally:
        case.close()
    return None if data is None else ScanSettings.from_json(data)


def write_outputs(case: CaseDB, *, lang: str, reveal: bool, signer: Signer, actor: str) -> dict[str, str]:
    """Report (HTML + PDF) and exports, each logged in custody with its SHA-256."""
    try:
        reveal_entry: CustodyEntry | None = None
        if reveal:
            with case.session() as s:
                reveal_entry = case.custody(s, signer).append(
                    actor=actor,
                    action="report.revealed",
                    details={"reason": "clear thumbnails requested (--reveal)"},
                )
        with case.session() as s:
            settings = ScanSettings.from_json(case.get_meta(s, "settings", {}))
        content = ContentAccess(case, ArchiveLimits(in_memory_bytes=settings.max_file_bytes))
        doc = build_document(case, lang=lang, reveal=reveal, reveal_entry=reveal_entry, content=content)
        if content.mismatches:
            with case.session() as s:
                log_mismatches(case, s, signer, actor, content)
        written: dict[str, str] = {}
        html = render_html(doc).encode("utf-8")
        _atomic_write(case.folder / REPORT_HTML, html)
        written[REPORT_HTML] = hashlib.sha256(html).hexdigest()
        pdf_path = case.folder / REPORT_PDF
        tmp = pdf_path.with_name(pdf_path.name + ".part")
        render_pdf(doc, tmp)
        os.replace(tmp, pdf_path)
        written[REPORT_PDF] = _sha256_file(pdf_path)
        with case.session() as s:
            log = case.custody(s, signer)
            for name in (REPORT_HTML, REPORT_PDF):
                log.append(
                    actor=actor,
                    action="report.written",
                    details={"file": name, "sha256": written[name], "lang": lang, "reveal": reveal},
                )
        exports = write_exports(case)
        with case.session() as s:
            log = case.custody(s, signer)
            for name, (sha, rows) in exports.items():
                written[name] = sha
                log.append(
                    actor=actor, action="export.written", details={"file": name, "sha256": sha, "rows": rows}
                )
        return written
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(case.folder) from None
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full_error(case.folder) from None
        raise


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _sha256_file(path: Path | bytes) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# --- verification --------------------------------------------------------------------------------------


@dataclass
class Problem:
    seq: int | None  # the custody entry concerned (None: not tied to one)
    code: str
    message: str
    log: str = "scan"  # "scan" (the scan's log) or "review" (the review log, ``triage.reviewlog``)

    @property
    def where(self) -> str:
        """Where it broke, for a person: "entry 12", "review entry 3", "the case database"."""
        if self.seq is None:
            return "the case database"
        return f"entry {self.seq}" if self.log == "scan" else f"review entry {self.seq}"


@dataclass
class Verification:
    folder: Path
    case_id: str
    entries: int
    keys: list[PublicKey]
    items: int
    checked_files: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the scan log's last entry (what a cached result is keyed by)
    head: str | None = None
    #: the review log (None: the case was never opened for review)
    review_entries: int | None = None
    review_head: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first broken entry, in log order (the scan's log first, then the review log; problems
        not tied to an entry come last)."""
        if not self.problems:
            return None
        return min(self.problems, key=lambda p: (p.seq is None, p.log != "scan", p.seq or 0))


def verify_case_dir(
    folder: Path, *, sources: bool = False, trusted_keys: Iterable[PublicKey] | None = None
) -> Verification:
    """Check the custody chain and signatures, then every hash the log records: each sealed batch of
    item records, the last completion's digest, each grouping step's digest, report and export files;
    with ``sources``, the source archives and every source file again. Then the review log and the
    review tables against it (``triage.reviewlog``), when the case has been reviewed."""
    case = CaseDB.open_read_only(folder)
    try:
        return verify_case(case, sources=sources, trusted_keys=trusted_keys)
    finally:
        case.close()


def verify_case(
    case: CaseDB,
    *,
    sources: bool = False,
    trusted_keys: Iterable[PublicKey] | None = None,
    scan: bool = True,
    review: bool = True,
) -> Verification:
    """:func:`verify_case_dir` on a case already open (the review grid verifies the case it holds;
    its engine begins real transactions, so a scan committing meanwhile is seen whole or not at all).
    ``scan``/``review``: check only one of the two logs (the review grid re-checks the cheap review
    log after each change and the scan's only when it grew)."""
    keys = None if trusted_keys is None else list(trusted_keys)
    with case.session() as s:
        n_items = int(s.scalar(select(func.count()).select_from(item)) or 0)
        v = Verification(folder=case.folder, case_id=case.case_id, entries=0, keys=[], items=n_items)
        if scan:
            entries = list(SqlCustodyStore(s, case.log_id).entries())
            report = verify_entries(entries, log=case.log_id, trusted_keys=keys)
            v.entries, v.keys = report.count, report.keys
            v.head = entries[-1].hash if entries else None
            if not report.ok:
                assert report.failure is not None
                v.problems.append(Problem(report.failure.seq, report.failure.code, report.failure.message))
            else:
                _check_items(s, entries, v)
                _check_completion(s, entries, v)
                _check_groups(s, entries, v)
                _check_files(case.folder, entries, v)
                if sources:
                    _check_sources(s, entries, v)
        reviewed = reviewlog.check(s, case.case_id, trusted_keys=keys) if review else None
        if reviewed is not None:
            v.review_entries = reviewed.entries
            v.review_head = reviewed.head
            for k in reviewed.keys:
                if all(k.raw != seen.raw for seen in v.keys):
                    v.keys.append(k)
            v.problems.extend(Problem(p.seq, p.code, p.message, log="review") for p in reviewed.problems)
    return v


def _check_items(s: Any, entries: list[CustodyEntry], v: Verification) -> None:
    sealed_at: dict[int, list[tuple[int, str]]] = {}
    for r in s.execute(select(item).order_by(item.c.id)):
        if r.record_sha256 is None:
            continue
        actual = record_hash(r)
        if actual != r.record_sha256:
            v.problems.append(
                Problem(
                    r.sealed_seq,
                    "item_altered",
                    f"Item {r.id} ({r.path}) was changed after custody entry {r.sealed_seq} sealed it: its "
                    "record no "
                    "longer matches its hash.",
                )
            )
        sealed_at.setdefault(int(r.sealed_seq or 0), []).append((r.id, r.record_sha256))
    for e in entries:
        if e.action == "item.amended" and e.details.get("previous_record") and e.details.get("previous_seq"):
            item_id = int(str(e.subject).split(":", 1)[1])
            sealed_at.setdefault(int(e.details["previous_seq"]), []).append(
                (item_id, e.details["previous_record"])
            )
    for e in entries:
        if e.action != "items.sealed":
            continue
        got = sorted(sealed_at.get(e.seq, []))
        if len(got) != e.details.get("count") or batch_digest(got) != e.details.get("digest"):
            v.problems.append(
                Problem(
                    e.seq,
                    "sealed_batch_mismatch",
                    f"Custody entry {e.seq} sealed {e.details.get('count')} item records (ids "
                    f"{e.details.get('first')}-{e.details.get('last')}); the case database now holds "
                    f"{len(got)} for it, or different ones: "
                    "items were added, removed or altered.",
                )
            )


def _check_completion(s: Any, entries: list[CustodyEntry], v: Verification) -> None:
    done = [e for e in entries if e.action == "scan.completed"]
    if not done:
        v.warnings.append(
            "The scan has not completed (no scan.completed entry); what was sealed so far was checked."
        )
        return
    last = done[-1]
    if items_digest(s) != last.details.get("items_digest"):
        v.problems.append(
            Problem(
                last.seq,
                "items_digest_mismatch",
                "The item table no longer matches the digest recorded when the scan completed "
                f"(entry {last.seq}).",
            )
        )


def _check_groups(s: Any, entries: list[CustodyEntry], v: Verification) -> None:
    latest: dict[str, CustodyEntry] = {}
    for e in entries:
        if e.action == "grouping.completed":
            latest[str(e.details.get("step"))] = e
    for step, e in latest.items():
        if group_digest(s, step) != e.details.get("digest"):
            v.problems.append(
                Problem(
                    e.seq,
                    "groups_altered",
                    f"The groups of step {step!r} were changed after custody entry {e.seq} recorded them.",
                )
            )
    recorded = set(latest)
    stored = {r[0] for r in s.execute(select(grp.c.step).distinct())}
    for step in sorted(stored - recorded):
        v.problems.append(
            Problem(
                None,
                "groups_unrecorded",
                f"Groups of step {step!r} are in the database but not in the custody log.",
            )
        )


def _check_files(folder: Path, entries: list[CustodyEntry], v: Verification) -> None:
    latest: dict[str, CustodyEntry] = {}
    for e in entries:
        if e.action in ("report.written", "export.written"):
            latest[str(e.details.get("file"))] = e
    for name, e in sorted(latest.items(), key=lambda kv: kv[1].seq):
        path = folder / name
        if os.path.basename(name) != name:
            v.problems.append(
                Problem(
                    e.seq, "bad_file_name", f"Custody entry {e.seq} names a file outside the case folder."
                )
            )
            continue
        if not path.exists():
            v.warnings.append(f"{name} (custody entry {e.seq}) is not in the folder.")
            continue
        v.checked_files += 1
        if _sha256_file(path) != e.details.get("sha256"):
            v.problems.append(
                Problem(
                    e.seq,
                    "file_altered",
                    f"{name} was changed after custody entry {e.seq} recorded its SHA-256.",
                )
            )


def _check_sources(s: Any, entries: list[CustodyEntry], v: Verification) -> None:
    registered = {e.details.get("source"): e for e in entries if e.action == "source.registered"}
    for r in s.execute(select(source).order_by(source.c.id)):
        e = registered.get(r.id)
        if r.sha256_before is None or e is None:
            continue
        try:
            now = _sha256_file(bytes(r.raw))
        except OSError:
            v.warnings.append(f"Source {r.id} ({r.arg}) is not available to re-hash.")
            continue
        v.checked_files += 1
        if now != e.details.get("sha256"):
            v.problems.append(
                Problem(
                    e.seq,
                    "source_changed",
                    f"Source {r.id} ({r.arg}) no longer has the SHA-256 recorded in custody entry {e.seq}.",
                )
            )
    for r in s.execute(
        select(item.c.id, item.c.path, item.c.raw_path, item.c.sha256, item.c.sealed_seq, item.c.size)
        .where(item.c.parent_id.is_(None), item.c.sha256.is_not(None))
        .order_by(item.c.id)
    ):
        try:
            now = _sha256_file(bytes(r.raw_path))
        except OSError:
            v.warnings.append(f"Item {r.id} ({r.path}) is not available to re-hash.")
            continue
        v.checked_files += 1
        if now != r.sha256:
            v.problems.append(
                Problem(
                    r.sealed_seq,
                    "source_file_changed",
                    f"Item {r.id} ({r.path}) no longer has the SHA-256 recorded for it.",
                )
            )


# --- banks -------------------------------------------------------------------------------------------------


def bank_entries_from_case(
    folder: Path, *, group: int | None, all_items: bool = False, include_low_quality: bool = False
) -> tuple[str, BankSelection]:
    """(case id, selection) of a case's (or one group's) flagged images and videos, fingerprints
    only; see ``exports.bank_entries`` for what is left out by default and why."""
    case = CaseDB.open_read_only(folder)
    try:
        return case.case_id, select_for_bank(
            case, group=group, all_items=all_items, include_low_quality=include_low_quality
        )
    finally:
        case.close()


def select_for_bank(
    case: CaseDB, *, group: int | None, all_items: bool = False, include_low_quality: bool = False
) -> BankSelection:
    """What a bank import of ``case`` (or of one of its groups) takes, with the safe defaults."""
    from takeback.triage.exports import bank_entries

    if group is not None:
        with case.session() as s:
            if s.execute(select(grp.c.id).where(grp.c.id == group)).first() is None:
                raise TriageError(
                    f"The case at {case.folder} has no group {group}; see its report or items.csv.",
                    code="no_such_group",
                )
    return bank_entries(case, group=group, all_items=all_items, include_low_quality=include_low_quality)


class NothingToImportError(TriageError):
    """A case (or group) import that would add nothing; ``selection`` says what was left out."""

    code = "nothing_to_import"

    def __init__(self, message: str, *, code: str, selection: BankSelection) -> None:
        super().__init__(message, code=code)
        self.selection = selection


@dataclass(frozen=True)
class CaseBankImport:
    """One import of a case's (or a group's) fingerprints into a bank: what went in, what did not."""

    case_id: str
    bank: str
    group: int | None
    selection: BankSelection
    report: ImportReport

    def custody_details(self) -> dict[str, Any]:
        """The ``bank.imported`` custody entry's details (ids and counts only)."""
        return {
            "bank": self.bank,
            "group": self.group,
            "entries": self.report.rows,
            "added": self.report.added,
            "duplicates": self.report.duplicates,
            "left_out": dict(sorted(self.selection.left_out.items())),
            "pdq_left_out": self.selection.pdq_left_out,
        }


def import_into_bank(
    db: Database,
    case: CaseDB,
    *,
    bank: str,
    group: int | None,
    actor: str,
    all_items: bool = False,
    include_low_quality: bool = False,
) -> CaseBankImport:
    """``takeback bank import --from-case`` and the review grid's "add this group to a bank": the
    flagged images and videos of a case or group (``exports.bank_entries``' safe defaults) into one
    transaction of the bank. The caller logs it in the case's custody (the scan's log from the CLI,
    the review log from the grid) and refreshes its match index."""
    from takeback.banks import service as banks

    selection = select_for_bank(
        case, group=group, all_items=all_items, include_low_quality=include_low_quality
    )
    what = f"group {group} of case {case.case_id}" if group is not None else f"case {case.case_id}"
    if not selection.entries:
        if not selection.considered:
            raise NothingToImportError(
                f"{what.capitalize()} has no images or videos to import.",
                code="no_images",
                selection=selection,
            )
        raise NothingToImportError(
            f"Nothing imported: none of the {selection.considered:,} images and videos of {what} was flagged "
            "by the scan. To import them anyway, add --all-items.",
            code="nothing_flagged",
            selection=selection,
        )
    db.run(lambda s: banks.get_bank(s, name=bank))
    report = db.run(
        lambda s: banks.import_contents(
            s, bank_name=bank, entries=selection.entries, actor=actor, source=f"scan case {case.case_id}"
        )
    )
    return CaseBankImport(case_id=case.case_id, bank=bank, group=group, selection=selection, report=report)


def record_bank_import(
    folder: Path,
    *,
    bank: str,
    group: int | None,
    entries: int,
    added: int,
    duplicates: int,
    signer: Signer,
    actor: str,
    left_out: dict[str, int] | None = None,
    pdq_left_out: int = 0,
) -> None:
    """Log a bank import in the scan's custody log (takes the folder's lock: the CLI's import, never
    while a scan runs; the review grid logs its imports in the review log instead)."""
    case = CaseDB.open(folder, create=False)
    try:
        with case.session() as s:
            case.custody(s, signer).append(
                actor=actor,
                action="bank.imported",
                details={
                    "bank": bank,
                    "group": group,
                    "entries": entries,
                    "added": added,
                    "duplicates": duplicates,
                    "left_out": dict(sorted((left_out or {}).items())),
                    "pdq_left_out": pdq_left_out,
                },
            )
    finally:
        case.close()


__all__ = [
    "REPORT_HTML",
    "REPORT_PDF",
    "CaseBankImport",
    "NothingToImportError",
    "Problem",
    "Verification",
    "bank_entries_from_case",
    "import_into_bank",
    "record_bank_import",
    "scan",
    "select_for_bank",
    "stored_settings",
    "verify_case",
    "verify_case_dir",
    "write_outputs",
]
