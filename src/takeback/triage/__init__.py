"""Forensic triage: ``takeback scan`` turns seized folders and archives into a verifiable case.

Layout: :mod:`.models` (the case database), :mod:`.casedb` (open/lock a case folder),
:mod:`.sources` and :mod:`.archives` (what to read, safely), :mod:`.tasks` and :mod:`.pool` (per-item
work in worker processes: small tasks filling one typed result), :mod:`.stages` and :mod:`.pipeline`
(the resumable scan, one module a stage), :mod:`.grouping` (pluggable steps), :mod:`.report` and
:mod:`.exports` (outputs), :mod:`.service` (what the CLI calls).
"""

from takeback.triage.errors import TriageError
from takeback.triage.models import ScanSettings
from takeback.triage.pipeline import Progress, RunOptions, ScanSummary
from takeback.triage.service import scan, verify_case_dir, write_outputs

__all__ = [
    "Progress",
    "RunOptions",
    "ScanSettings",
    "ScanSummary",
    "TriageError",
    "scan",
    "verify_case_dir",
    "write_outputs",
]
